"""The double opt-in confirmation page, the re-permission page and the sign-up form's answers:
server-rendered HTML in Swedish and English, branded like the preference center, no script."""

from __future__ import annotations

from html import escape

from consent_svc.domain.models import PurposeConfig
from consent_svc.domain.records import BrandingRow
from consent_svc.web.pages import Lang, _page

TEXT: dict[str, dict[Lang, str]] = {
    "confirm_title": {"sv": "Bekräfta din prenumeration", "en": "Confirm your subscription"},
    "confirm_intro": {
        "sv": "Du (eller någon med din adress) har anmält dig till följande från {org}. Tryck på ”Bekräfta” "
        "om du vill ha det. Gör du ingenting händer ingenting.",
        "en": "You (or someone with your address) signed up for the following from {org}. Press “Confirm” if "
        "you want it. If you do nothing, nothing happens.",
    },
    "confirm": {"sv": "Bekräfta", "en": "Confirm"},
    "confirmed": {
        "sv": "Tack! Din prenumeration är bekräftad.",
        "en": "Thank you! Your subscription is confirmed.",
    },
    "already": {
        "sv": "Den här länken är redan använd: prenumerationen är bekräftad.",
        "en": "This link has been used already: the subscription is confirmed.",
    },
    "expired": {
        "sv": "Länken har gått ut. Anmäl dig igen om du vill ha utskicken; inget har sparats.",
        "en": "This link has expired. Sign up again if you want the messages; nothing was recorded.",
    },
    "invalid_title": {"sv": "Länken fungerar inte", "en": "This link does not work"},
    "invalid": {
        "sv": "Länken är ogiltig. Kontrollera att hela länken kom med.",
        "en": "This link is not valid. Check that the whole link was copied.",
    },
    "reconsent_title": {"sv": "Vi har ändrat villkoren", "en": "We have changed the terms"},
    "reconsent_intro": {
        "sv": "{org} har ändrat vad utskicket innebär. Läs den nya texten och tryck på ”Jag godkänner” om du "
        "vill fortsätta få det.",
        "en": "{org} has changed what this subscription means. Read the new text and press “I agree” if you "
        "want to keep receiving it.",
    },
    "agree": {"sv": "Jag godkänner", "en": "I agree"},
    "reconsent_done": {"sv": "Tack! Ditt samtycke är sparat.", "en": "Thank you! Your consent is recorded."},
    "reconsent_used": {
        "sv": "Den här länken är redan använd: ditt samtycke är sparat.",
        "en": "This link has been used already: your consent is recorded.",
    },
    "reconsent_expired": {
        "sv": "Länken har gått ut; inget har sparats.",
        "en": "This link has expired; nothing was recorded.",
    },
    "thanks_title": {"sv": "Titta i din inkorg", "en": "Check your inbox"},
    "thanks": {
        "sv": "Tack! Vi har skickat ett mejl med en länk. Öppna den för att bekräfta din prenumeration; "
        "utan bekräftelse skickar vi ingenting.",
        "en": "Thank you! We have sent an email with a link. Open it to confirm your subscription; without "
        "a confirmation we send nothing.",
    },
    "form_error_title": {"sv": "Något stämmer inte", "en": "Something is not right"},
    "back": {"sv": "Gå tillbaka och försök igen.", "en": "Go back and try again."},
    "lang_other": {"sv": "In English", "en": "På svenska"},
}


def _org(branding: BrandingRow) -> str:
    return escape(branding.display_name or branding.name)


def _purposes(lang: Lang, purposes: list[PurposeConfig]) -> str:
    rows = []
    for p in purposes:
        title = escape(p.title.get(lang) or p.title.get("en") or p.key)
        description = escape(p.description.get(lang) or p.description.get("en") or "")
        rows.append(f'<div class="choice"><div><strong>{title}</strong><p>{description}</p></div></div>')
    return "".join(rows)


def _notice(text: str) -> str:
    return f'<p class="notice" role="status">{escape(text)}</p>'


def confirm_page(lang: Lang, branding: BrandingRow, purposes: list[PurposeConfig], token: str) -> str:
    other: Lang = "en" if lang == "sv" else "sv"
    body = f"""<h1>{TEXT["confirm_title"][lang]}</h1>
<p>{TEXT["confirm_intro"][lang].format(org=_org(branding))}</p>
<div class="purposes">{_purposes(lang, purposes)}</div>
<form method="post" action="/c/{escape(token)}">
<input type="hidden" name="lang" value="{lang}">
<div class="actions"><button type="submit" name="action" value="confirm">{TEXT["confirm"][lang]}</button></div>
</form>
<p><a href="/c/{escape(token)}?lang={other}" lang="{other}">{TEXT["lang_other"][lang]}</a></p>"""
    return _page(lang, branding, body, TEXT["confirm_title"][lang])


def confirm_result_page(lang: Lang, branding: BrandingRow, purposes: list[PurposeConfig], key: str) -> str:
    """``key``: confirmed, already or expired."""
    body = f"<h1>{TEXT['confirm_title'][lang]}</h1>{_notice(TEXT[key][lang])}"
    if key != "expired":
        body += f'<div class="purposes">{_purposes(lang, purposes)}</div>'
    return _page(lang, branding, body, TEXT["confirm_title"][lang])


def invalid_link_page(lang: Lang) -> str:
    body = f"<h1>{TEXT['invalid_title'][lang]}</h1><p>{TEXT['invalid'][lang]}</p>"
    return _page(lang, None, body, TEXT["invalid_title"][lang])


def reconsent_page(lang: Lang, branding: BrandingRow, purpose: PurposeConfig, token: str) -> str:
    other: Lang = "en" if lang == "sv" else "sv"
    body = f"""<h1>{TEXT["reconsent_title"][lang]}</h1>
<p>{TEXT["reconsent_intro"][lang].format(org=_org(branding))}</p>
<div class="purposes">{_purposes(lang, [purpose])}</div>
<form method="post" action="/r/{escape(token)}">
<input type="hidden" name="lang" value="{lang}">
<input type="hidden" name="notice_version" value="{escape(purpose.notice_version)}">
<div class="actions"><button type="submit" name="action" value="agree">{TEXT["agree"][lang]}</button></div>
</form>
<p><a href="/r/{escape(token)}?lang={other}" lang="{other}">{TEXT["lang_other"][lang]}</a></p>"""
    return _page(lang, branding, body, TEXT["reconsent_title"][lang])


def reconsent_result_page(lang: Lang, branding: BrandingRow, key: str) -> str:
    """``key``: reconsent_done, reconsent_used or reconsent_expired."""
    body = f"<h1>{TEXT['reconsent_title'][lang]}</h1>{_notice(TEXT[key][lang])}"
    return _page(lang, branding, body, TEXT["reconsent_title"][lang])


def thanks_page(lang: Lang, branding: BrandingRow) -> str:
    body = f"<h1>{TEXT['thanks_title'][lang]}</h1>{_notice(TEXT['thanks'][lang])}"
    return _page(lang, branding, body, TEXT["thanks_title"][lang])


def form_error_page(lang: Lang, branding: BrandingRow, message: str) -> str:
    body = (
        f'<h1>{TEXT["form_error_title"][lang]}</h1><p class="notice again" role="alert">{escape(message)}</p>'
        f"<p>{TEXT['back'][lang]}</p>"
    )
    return _page(lang, branding, body, TEXT["form_error_title"][lang])
