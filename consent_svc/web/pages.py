"""The preference center and the one-click confirmation: server-rendered HTML, Swedish and English.

No JavaScript and no cookies: plain forms that work in any mail client's
browser and on a phone. Every value from a tenant or a purpose is escaped.
Accessibility: one <h1>, labelled checkboxes in a <fieldset> with a
<legend>, focus outlines, text colour chosen for contrast against the
tenant's primary colour, and a layout that reflows on narrow screens.
"""

from __future__ import annotations

from html import escape
from typing import Literal

from consent_svc.domain.models import PurposeConfig
from consent_svc.domain.records import BrandingRow
from consent_svc.service.unsubscribe import PreferenceView

Lang = Literal["sv", "en"]

TEXT: dict[str, dict[Lang, str]] = {
    "title": {"sv": "Dina utskick", "en": "Your email preferences"},
    "intro": {
        "sv": "Välj vilka utskick du vill få från {org}. Du kan ändra dig när som helst.",
        "en": "Choose which messages you want from {org}. You can change your mind at any time.",
    },
    "legend": {"sv": "Utskick", "en": "Messages"},
    "save": {"sv": "Spara mina val", "en": "Save my choices"},
    "all": {"sv": "Avregistrera mig från allt", "en": "Unsubscribe from everything"},
    "saved": {"sv": "Dina val är sparade.", "en": "Your choices are saved."},
    "done_all": {
        "sv": "Du är avregistrerad och får inga fler utskick från {org}.",
        "en": "You are unsubscribed and will get no more marketing messages from {org}.",
    },
    "one_click": {
        "sv": "Du är avregistrerad och får inga fler utskick från {org}. Det gäller redan nu.",
        "en": "You are unsubscribed and will get no more marketing messages from {org}. This applies now.",
    },
    "one_click_purpose": {
        "sv": "Du är avregistrerad från ”{purpose}”. Det gäller redan nu.",
        "en": "You are unsubscribed from “{purpose}”. This applies now.",
    },
    "purpose_button": {"sv": "Avregistrera mig från ”{purpose}”", "en": "Unsubscribe from “{purpose}”"},
    "purpose_intro": {
        "sv": "Länken gäller ”{purpose}”. Ett klick räcker:",
        "en": "This link is for “{purpose}”. One click is enough:",
    },
    "blocked": {
        "sv": "Kan inte aktiveras här (adressen är spärrad). Kontakta oss om du vill ha utskicket igen.",
        "en": "Cannot be turned on here (the address is blocked). Contact us if you want it again.",
    },
    "stale": {
        "sv": "Sidan hade varit öppen länge. Det du stängde av är sparat, men utskick du slog på igen är inte "
        "sparade än: kontrollera dina val och tryck på ”Spara mina val” igen.",
        "en": "This page had been open for a long time. What you turned off is saved, but messages you turned "
        "back on are not saved yet: check your choices and press “Save my choices” again.",
    },
    "unchecked": {
        "sv": "Formuläret kunde inte kontrolleras, så inget har ändrats. Kontrollera dina val och tryck på "
        "”Spara mina val” igen.",
        "en": "The form could not be checked, so nothing was changed. Check your choices and press "
        "“Save my choices” again.",
    },
    "privacy": {"sv": "Så behandlar vi dina personuppgifter", "en": "How we process your personal data"},
    "lang_other": {"sv": "In English", "en": "På svenska"},
    "on": {"sv": "prenumererar", "en": "subscribed"},
    "off": {"sv": "prenumererar inte", "en": "not subscribed"},
}


def pick_language(query: str | None, accept_language: str | None) -> Lang:
    if query in ("sv", "en"):
        return query  # type: ignore[return-value]
    best: tuple[float, Lang] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        base = tag.strip().lower().split("-")[0]
        if base not in ("sv", "en"):
            continue
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if best is None or q > best[0]:
            best = (q, base)  # type: ignore[assignment]
    return best[1] if best else "sv"


def _text_colour(background: str) -> str:
    """Black or white, whichever contrasts more with the background (WCAG relative luminance)."""

    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    lum = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return "#000000" if (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) else "#ffffff"


text_colour = _text_colour  # for the other pages and the confirmation email


def _page(lang: Lang, b: BrandingRow | None, body: str, title: str | None = None) -> str:
    """The frame of every page: the tenant's colours, logo and privacy link (neutral without a tenant)."""
    org = escape(b.display_name or b.name) if b else ""
    colour = (b.primary_color if b else None) or "#1f4e79"
    logo = f'<img src="{escape(b.logo_url)}" alt="{org}" class="logo">' if b and b.logo_url else ""
    privacy = (
        f'<p><a href="{escape(b.privacy_policy_url)}">{TEXT["privacy"][lang]}</a></p>'
        if b and b.privacy_policy_url
        else ""
    )
    heading = title or TEXT["title"][lang]
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{heading}{" &ndash; " + org if org else ""}</title>
<style>
  body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1a1a1a;
         background: #f6f6f6; line-height: 1.5; }}
  header {{ background: {colour}; color: {_text_colour(colour)}; padding: 1rem; }}
  header .logo {{ max-height: 40px; vertical-align: middle; margin-right: .5rem; }}
  main {{ max-width: 40rem; margin: 0 auto; padding: 1rem; background: #fff; }}
  h1 {{ font-size: 1.5rem; margin: .5rem 0 1rem; }}
  fieldset {{ border: 1px solid #767676; border-radius: 6px; padding: .5rem 1rem; }}
  .choice {{ display: flex; gap: .75rem; align-items: flex-start; padding: .75rem 0;
            border-bottom: 1px solid #ddd; }}
  .choice:last-child {{ border-bottom: 0; }}
  .choice input {{ width: 1.5rem; height: 1.5rem; margin-top: .15rem; flex: none; }}
  .choice label {{ font-weight: 600; }}
  .choice p {{ margin: .25rem 0 0; color: #444; }}
  .state {{ font-size: .9rem; color: #444; }}
  .actions {{ display: flex; flex-wrap: wrap; gap: .75rem; margin: 1.25rem 0; }}
  button {{ font: inherit; padding: .7rem 1.2rem; border-radius: 6px; border: 2px solid {colour};
           background: {colour}; color: {_text_colour(colour)}; cursor: pointer; min-height: 44px; }}
  button.secondary {{ background: #fff; color: #1a1a1a; border-color: #1a1a1a; }}
  button:focus-visible, input:focus-visible, a:focus-visible {{ outline: 3px solid #000; outline-offset: 2px; }}
  .notice {{ background: #e8f4ea; border-left: 4px solid #1e7b34; padding: .75rem 1rem; }}
  .notice.again {{ background: #fff4ce; border-left-color: #8a6100; }}
  a {{ color: #0b57a4; }}
</style>
</head>
<body>
<header>{logo}<strong>{org}</strong></header>
<main>
{body}
{privacy}
</main>
</body>
</html>
"""


def preference_page(
    lang: Lang, view: PreferenceView, token: str, nonce: str, notice: str | None = None,
    ticked: set[str] | None = None, again: bool = False,
) -> str:  # fmt: skip
    """The page; ``ticked`` keeps the boxes as the person left them when they are asked to
    send the form ``again`` (``notice`` then says why)."""
    org = escape(view.branding.display_name or view.branding.name)
    other: Lang = "en" if lang == "sv" else "sv"
    rows = []
    for i, choice in enumerate(view.choices):
        p = choice.purpose
        title = escape(p.title.get(lang) or p.title.get("en") or p.key)
        description = escape(p.description.get(lang) or p.description.get("en") or "")
        state = TEXT["on" if choice.subscribed else "off"][lang]
        disabled = " disabled" if choice.blocked else ""
        on = choice.subscribed if ticked is None else p.key in ticked and not choice.blocked
        checked = " checked" if on else ""
        blocked = f'<p class="state">{TEXT["blocked"][lang]}</p>' if choice.blocked else ""
        rows.append(
            f'<div class="choice"><input type="checkbox" id="p{i}" name="purpose" value="{escape(p.key)}"'
            f'{checked}{disabled} aria-describedby="d{i}">'
            f'<div><label for="p{i}">{title}</label> <span class="state">({state})</span>'
            f'<p id="d{i}">{description}</p>{blocked}</div></div>'
        )
    kind = "notice again" if again else "notice"
    notice_html = f'<p class="{kind}" role="status">{escape(notice)}</p>' if notice else ""
    one_step = ""
    link = view.link_purpose
    if link is not None and any(c.purpose.key == link.key and c.subscribed for c in view.choices):
        name = escape(purpose_title(link, lang))
        one_step = (
            f'<p>{TEXT["purpose_intro"][lang].format(purpose=name)}</p><div class="actions">'
            f'<button type="submit" name="action" value="unsubscribe_purpose" id="unsubscribe-purpose">'
            f"{TEXT['purpose_button'][lang].format(purpose=name)}</button></div>"
        )
    body = f"""<h1>{TEXT["title"][lang]}</h1>
{notice_html}
<form method="post" action="/u/{escape(token)}/preferences">
<input type="hidden" name="lang" value="{lang}">
<input type="hidden" name="nonce" value="{escape(nonce)}">
{one_step}
<p>{TEXT["intro"][lang].format(org=org)}</p>
<fieldset><legend>{TEXT["legend"][lang]}</legend>
{"".join(rows)}
</fieldset>
<div class="actions">
<button type="submit" name="action" value="save">{TEXT["save"][lang]}</button>
<button type="submit" name="action" value="unsubscribe_all" class="secondary">{TEXT["all"][lang]}</button>
</div>
</form>
<p><a href="/u/{escape(token)}?lang={other}" lang="{other}">{TEXT["lang_other"][lang]}</a></p>"""
    return _page(lang, view.branding, body)


def purpose_title(purpose: PurposeConfig, lang: Lang) -> str:
    return purpose.title.get(lang) or purpose.title.get("en") or purpose.key


def one_click_page(lang: Lang, view: PreferenceView) -> str:
    """The answer to a one-click unsubscribe: the decision changed at once, and the page says so."""
    if view.link_purpose is not None:
        text = TEXT["one_click_purpose"][lang].format(purpose=escape(purpose_title(view.link_purpose, lang)))
    else:
        text = TEXT["one_click"][lang].format(org=escape(view.branding.display_name or view.branding.name))
    body = f'<h1>{TEXT["title"][lang]}</h1><p class="notice" role="status">{text}</p>'
    return _page(lang, view.branding, body)


PROBLEMS: dict[str, dict[Lang, tuple[str, str]]] = {
    "broken": {
        "sv": ("Länken fungerar inte", "Länken är ofullständig eller ogiltig. Kopiera hela länken från "
               "e-postmeddelandet, eller använd länken i ett nyare utskick."),
        "en": ("This link does not work", "The link is incomplete or not valid. Copy the whole link from the "
               "email, or use the link in a more recent message."),
    },
    "busy": {
        "sv": ("För många försök", "Vänta en minut och försök sedan igen."),
        "en": ("Too many attempts", "Please wait a minute, then try again."),
    },
    "refused": {
        "sv": ("Det gick inte att ta emot", "Något i formuläret saknades eller var fel, så inget har ändrats. "
               "Öppna länken i e-postmeddelandet igen."),
        "en": ("That could not be accepted", "Something in the form was missing or wrong, so nothing was "
               "changed. Open the link in the email again."),
    },
}  # fmt: skip


def problem_page(lang: Lang, kind: str) -> str:
    """A page for a person whose link or form did not work: what happened and what to do, no jargon."""
    title, text = PROBLEMS[kind][lang]
    return _page(lang, None, f'<h1>{title}</h1><p role="alert">{text}</p>', title=title)
