"""The double opt-in confirmation page, the re-permission page and the sign-up form's answers:
server-rendered HTML in Swedish and English (templates/pages/), branded like the preference center, no script."""

from __future__ import annotations

from consent_svc.domain.models import PurposeConfig
from consent_svc.domain.records import BrandingRow
from consent_svc.web.pages import Lang, frame
from consent_svc.web.templates import render

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


def _purposes(lang: Lang, purposes: list[PurposeConfig]) -> list[dict[str, str]]:
    return [
        {"title": p.title.get(lang) or p.title.get("en") or p.key,
         "description": p.description.get(lang) or p.description.get("en") or ""}
        for p in purposes
    ]  # fmt: skip


def _org(branding: BrandingRow) -> str:
    return branding.display_name or branding.name


def _ask(lang: Lang, branding: BrandingRow, title: str, intro: str, purposes: list[PurposeConfig], action: str,
         button: str, button_value: str, hidden: list[tuple[str, str]]) -> str:  # fmt: skip
    return render(
        "pages/ask.html", **frame(lang, branding, title), intro=intro.format(org=_org(branding)),
        purposes=_purposes(lang, purposes), action=action, button=button, button_value=button_value, hidden=hidden,
        other="en" if lang == "sv" else "sv", lang_other=TEXT["lang_other"][lang],
    )  # fmt: skip


def confirm_page(lang: Lang, branding: BrandingRow, purposes: list[PurposeConfig], token: str) -> str:
    return _ask(lang, branding, TEXT["confirm_title"][lang], TEXT["confirm_intro"][lang], purposes, f"/c/{token}",
                TEXT["confirm"][lang], "confirm", [])  # fmt: skip


def confirm_result_page(lang: Lang, branding: BrandingRow, purposes: list[PurposeConfig], key: str) -> str:
    """``key``: confirmed, already or expired."""
    shown = _purposes(lang, purposes) if key != "expired" else []
    return render("pages/message.html", **frame(lang, branding, TEXT["confirm_title"][lang]),
                  notice=TEXT[key][lang], purposes=shown)  # fmt: skip


def invalid_link_page(lang: Lang) -> str:
    return render("pages/message.html", **frame(lang, None, TEXT["invalid_title"][lang]), text=TEXT["invalid"][lang])


def reconsent_page(lang: Lang, branding: BrandingRow, purpose: PurposeConfig, token: str) -> str:
    return _ask(lang, branding, TEXT["reconsent_title"][lang], TEXT["reconsent_intro"][lang], [purpose],
                f"/r/{token}", TEXT["agree"][lang], "agree", [("notice_version", purpose.notice_version)])  # fmt: skip


def reconsent_result_page(lang: Lang, branding: BrandingRow, key: str) -> str:
    """``key``: reconsent_done, reconsent_used or reconsent_expired."""
    return render("pages/message.html", **frame(lang, branding, TEXT["reconsent_title"][lang]), notice=TEXT[key][lang])


def thanks_page(lang: Lang, branding: BrandingRow) -> str:
    return render(
        "pages/message.html", **frame(lang, branding, TEXT["thanks_title"][lang]), notice=TEXT["thanks"][lang]
    )


def form_error_page(lang: Lang, branding: BrandingRow, message: str) -> str:
    return render(
        "pages/message.html", **frame(lang, branding, TEXT["form_error_title"][lang]), notice=message,
        notice_class="notice again", notice_role="alert", after=TEXT["back"][lang],
    )  # fmt: skip
