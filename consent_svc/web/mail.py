"""The double opt-in confirmation email: plain text and HTML, Swedish or English, in the
tenant's name and colour. No tracking: no images (a remote logo would tell when the mail was
opened), no rewritten links, no pixels; the one link is the confirmation page itself."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from html import escape

from consent_svc.domain.models import PurposeConfig
from consent_svc.domain.records import BrandingRow
from consent_svc.web.pages import Lang, text_colour

TEXT: dict[str, dict[Lang, str]] = {
    "subject": {"sv": "Bekräfta din prenumeration hos {org}", "en": "Confirm your subscription to {org}"},
    "intro": {
        "sv": "Någon, förhoppningsvis du, har anmält den här adressen till följande utskick från {org}:",
        "en": "Someone, hopefully you, signed this address up for the following from {org}:",
    },
    "action": {
        "sv": "Öppna länken och tryck på ”Bekräfta” för att börja få utskicken:",
        "en": "Open the link and press “Confirm” to start receiving them:",
    },
    "button": {"sv": "Bekräfta prenumerationen", "en": "Confirm the subscription"},
    "ignore": {
        "sv": "Var det inte du? Gör ingenting: utan bekräftelse får du inga utskick, och anmälan tas bort {until}.",
        "en": "Not you? Do nothing: without a confirmation you get no messages, and the sign-up is removed {until}.",
    },
    "until": {"sv": "efter {hours} timmar", "en": "after {hours} hours"},
}


def _title(p: PurposeConfig, lang: Lang) -> str:
    return p.title.get(lang) or p.title.get("en") or p.key


def confirmation_email(
    *, branding: BrandingRow, purposes: list[PurposeConfig], lang: Lang, url: str, sender: str, to: str, hours: int
) -> EmailMessage:
    """The message, with a fresh ``Message-ID`` (read it from ``message["Message-ID"]``)."""
    org = branding.display_name or branding.name
    colour = branding.primary_color or "#1f4e79"
    until = TEXT["until"][lang].format(hours=hours)
    message = EmailMessage()
    _, address = parseaddr(sender)
    message["From"] = formataddr((org, address))
    message["To"] = to
    message["Subject"] = TEXT["subject"][lang].format(org=org)
    message["Message-ID"] = make_msgid(domain=address.rpartition("@")[2] or None)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Auto-Submitted"] = "auto-generated"
    lines = [TEXT["intro"][lang].format(org=org), ""]
    lines += [f"  - {_title(p, lang)}" for p in purposes]
    lines += ["", TEXT["action"][lang], url, "", TEXT["ignore"][lang].format(until=until), ""]
    if branding.privacy_policy_url:
        lines.append(branding.privacy_policy_url)
    message.set_content("\n".join(lines))
    items = "".join(
        f"<li><strong>{escape(_title(p, lang))}</strong><br>"
        f"{escape(p.description.get(lang) or p.description.get('en') or '')}</li>"
        for p in purposes
    )
    privacy = (
        f'<p><a href="{escape(branding.privacy_policy_url)}">{escape(branding.privacy_policy_url)}</a></p>'
        if branding.privacy_policy_url
        else ""
    )
    html = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{escape(message["Subject"])}</title></head>
<body style="font-family: system-ui, sans-serif; color: #1a1a1a; line-height: 1.5; margin: 0;">
<div style="background: {colour}; color: {text_colour(colour)}; padding: 16px;"><strong>{escape(org)}</strong></div>
<div style="max-width: 560px; padding: 16px;">
<p>{escape(TEXT["intro"][lang].format(org=org))}</p>
<ul>{items}</ul>
<p>{escape(TEXT["action"][lang])}</p>
<p><a href="{escape(url)}" style="display: inline-block; padding: 12px 20px; background: {colour};
color: {text_colour(colour)}; border-radius: 6px; text-decoration: none;">{TEXT["button"][lang]}</a></p>
<p style="word-break: break-all;">{escape(url)}</p>
<p>{escape(TEXT["ignore"][lang].format(until=until))}</p>
{privacy}
</div></body></html>
"""
    message.add_alternative(html, subtype="html")
    return message
