"""The preference center and the one-click confirmation: server-rendered HTML, Swedish and English,
from the Jinja2 templates in templates/pages/ (autoescaped, like the console's).

No JavaScript and no cookies: plain forms that work in any mail client's
browser and on a phone. Every value from a tenant or a purpose is escaped.
Accessibility: one <h1>, labelled checkboxes in a <fieldset> with a
<legend>, focus outlines, text colour chosen for contrast against the
tenant's primary colour, and a layout that reflows on narrow screens.
"""

from __future__ import annotations

from typing import Any, Literal

from consent_svc.domain.models import PurposeConfig
from consent_svc.domain.records import BrandingRow
from consent_svc.service.unsubscribe import PreferenceView
from consent_svc.web.templates import render

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


def frame(lang: Lang, b: BrandingRow | None, title: str | None = None) -> dict[str, Any]:
    """What the frame of every page shows (templates/pages/frame.html): the tenant's colours, logo
    and privacy link (neutral without a tenant), and the page's heading."""
    colour = (b.primary_color if b else None) or "#1f4e79"
    return {
        "lang": lang,
        "org": (b.display_name or b.name) if b else "",
        "colour": colour,
        "text_colour": _text_colour(colour),
        "logo_url": b.logo_url if b else None,
        "privacy_url": b.privacy_policy_url if b else None,
        "privacy_text": TEXT["privacy"][lang],
        "heading": title or TEXT["title"][lang],
    }


def preference_page(
    lang: Lang, view: PreferenceView, token: str, nonce: str, notice: str | None = None,
    ticked: set[str] | None = None, again: bool = False,
) -> str:  # fmt: skip
    """The page; ``ticked`` keeps the boxes as the person left them when they are asked to
    send the form ``again`` (``notice`` then says why)."""
    rows = []
    for choice in view.choices:
        p = choice.purpose
        rows.append({
            "key": p.key,
            "title": p.title.get(lang) or p.title.get("en") or p.key,
            "description": p.description.get(lang) or p.description.get("en") or "",
            "state": TEXT["on" if choice.subscribed else "off"][lang],
            "blocked": choice.blocked,
            "on": choice.subscribed if ticked is None else p.key in ticked and not choice.blocked,
        })  # fmt: skip
    # A link for one purpose offers it in one step, while the person still gets it.
    link = view.link_purpose
    one_step = None
    if link is not None and any(c.purpose.key == link.key and c.subscribed for c in view.choices):
        one_step = purpose_title(link, lang)
    return render(
        "pages/preference.html", **frame(lang, view.branding), t=TEXT, rows=rows, token=token, nonce=nonce,
        notice=notice, again=again, other="en" if lang == "sv" else "sv", one_step=one_step,
    )  # fmt: skip


def purpose_title(purpose: PurposeConfig, lang: Lang) -> str:
    return purpose.title.get(lang) or purpose.title.get("en") or purpose.key


def one_click_page(lang: Lang, view: PreferenceView) -> str:
    """The answer to a one-click unsubscribe: the decision changed at once, and the page says so."""
    if view.link_purpose is not None:
        text = TEXT["one_click_purpose"][lang].format(purpose=purpose_title(view.link_purpose, lang))
    else:
        text = TEXT["one_click"][lang].format(org=view.branding.display_name or view.branding.name)
    return render("pages/message.html", **frame(lang, view.branding), notice=text)


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
    return render("pages/message.html", **frame(lang, None, title), text=text, text_role="alert")
