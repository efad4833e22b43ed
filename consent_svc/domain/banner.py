"""What a banner shows, per language: the first layer's texts (with defaults in Swedish and
English), the categories with their third parties and lifetimes, and the hash that a receipt
keeps to prove which texts were shown. Pure: no I/O.

A site's texts are part of its configuration (``texts`` per language); for ``sv`` and ``en``
every text has a default, for any other language the site gives them all. Placeholders
``{controller}`` and ``{categories}`` are filled in here, so banner.js shows the strings as they
come and the version document holds exactly what a visitor read.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

import msgspec

from consent_svc.domain.records import ChoiceCountRow

TEXT_KEYS = (
    "title", "purposes", "withdraw", "controller", "policy", "accept", "reject", "settings", "save",
    "legend", "gpc", "consent_id", "third_parties", "lifetime", "reopen", "offline", "failed",
    "placeholder", "placeholder_button",
)  # fmt: skip

DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    "sv": {
        "title": "Vi värnar om din integritet",
        "purposes": "Vi använder cookies och liknande tekniker. Nödvändiga behövs för att webbplatsen ska "
        "fungera; med ditt samtycke använder vi även: {categories}.",
        "withdraw": "Du kan när som helst ändra eller återkalla ditt samtycke under ”Cookie-inställningar”, "
        "som finns på varje sida.",
        "controller": "Personuppgiftsansvarig: {controller}.",
        "policy": "Läs vår integritetspolicy",
        "accept": "Acceptera alla",
        "reject": "Avvisa alla",
        "settings": "Inställningar",
        "save": "Spara val",
        "legend": "Kategorier",
        "gpc": "Din webbläsare skickar Global Privacy Control: marknadsföring är avstängd.",
        "consent_id": "Ditt samtyckes-id:",
        "third_parties": "Tredje parter:",
        "lifetime": "Lagringstid:",
        "reopen": "Cookie-inställningar",
        "offline": "Ditt nej gäller redan på den här webbplatsen. Vi kunde inte spara det hos oss just nu och "
        "försöker igen automatiskt.",
        "failed": "Ditt val kunde inte sparas just nu. Försök igen om en stund.",
        "placeholder": "Det här innehållet är blockerat tills du godkänner kategorin {category}.",
        "placeholder_button": "Öppna cookie-inställningar",
    },
    "en": {
        "title": "We care about your privacy",
        "purposes": "We use cookies and similar technologies. Necessary ones keep the site working; with your "
        "consent we also use: {categories}.",
        "withdraw": "You can change or withdraw your consent at any time under “Cookie settings”, found on every page.",
        "controller": "Controller: {controller}.",
        "policy": "Read our privacy policy",
        "accept": "Accept all",
        "reject": "Reject all",
        "settings": "Settings",
        "save": "Save choices",
        "legend": "Categories",
        "gpc": "Your browser sends Global Privacy Control: marketing is switched off.",
        "consent_id": "Your consent id:",
        "third_parties": "Third parties:",
        "lifetime": "Storage period:",
        "reopen": "Cookie settings",
        "offline": "Your refusal already applies on this site. We could not save it with us just now and will "
        "try again by itself.",
        "failed": "Your choice could not be saved just now. Please try again in a moment.",
        "placeholder": "This content is blocked until you accept the category {category}.",
        "placeholder_button": "Open cookie settings",
    },
}

# Google Consent Mode v2 signals, and the default mapping from the usual categories.
GCM_SIGNALS = (
    "ad_storage", "ad_user_data", "ad_personalization", "analytics_storage", "functionality_storage",
    "personalization_storage", "security_storage",
)  # fmt: skip
GCM_AD_SIGNALS = ("ad_storage", "ad_user_data", "ad_personalization")
GCM_DEFAULT_MAPPING: dict[str, list[str]] = {
    "necessary": ["security_storage"],
    "preferences": ["functionality_storage", "personalization_storage"],
    "analytics": ["analytics_storage"],
    "marketing": ["ad_storage", "ad_user_data", "ad_personalization"],
}


def missing_texts(language: str, given: dict[str, str]) -> list[str]:
    """The text keys a language lacks (none for sv and en: they have defaults)."""
    if language in DEFAULT_TEXTS:
        return []
    return [k for k in TEXT_KEYS if k not in given]


def resolve_texts(language: str, given: dict[str, str], controller: str, category_titles: list[str]) -> dict[str, str]:
    """The language's first-layer texts as shown: defaults, then the site's own, placeholders filled."""
    texts = {**DEFAULT_TEXTS.get(language, {}), **given}
    listed = ", ".join(category_titles) if category_titles else "-"
    return {
        k: texts[k].replace("{controller}", controller).replace("{categories}", listed) for k in TEXT_KEYS
    }  # {category} stays: banner.js fills in the blocked element's category


def shown_document(
    language: str, *, texts: dict[str, str], categories: list[dict[str, Any]], controller: str,
    policy_url: str | None,
) -> dict[str, Any]:  # fmt: skip
    """Everything a visitor reads in ``language``: the first layer and the settings layer."""
    return {
        "language": language,
        "controller": controller,
        "policy_url": policy_url,
        "texts": texts,
        "categories": [
            {
                "key": c["key"],
                "required": bool(c.get("required")),
                "title": c["title"][language],
                "description": c["description"][language],
                "third_parties": list(c.get("third_parties") or []),
                "lifetime": (c.get("lifetime") or {}).get(language),
            }
            for c in categories
        ],
    }


def texts_hash(document: dict[str, Any]) -> bytes:
    """SHA-256 of the document as canonical JSON (keys sorted, UTF-8): what a receipt keeps."""
    return hashlib.sha256(msgspec.json.encode(document, order="sorted")).digest()


def pick_language(wanted: str, languages: list[str], default: str) -> str:
    """The page's language when the site has it, else the site's default (never a fixed one)."""
    base = wanted[:2].lower()
    return base if base in languages else default


def fold_counts(rows: list[ChoiceCountRow], interval: str) -> list[dict[str, Any]]:
    """Rolled-up choices to one item per period (a UTC day, or an ISO week from its Monday) and
    banner version: how many accepted all, rejected all, chose per category, dismissed, with GPC,
    and per category how many granted it."""
    items: dict[tuple[date, int], dict[str, Any]] = {}
    for r in rows:
        period = r.day - timedelta(days=r.day.weekday()) if interval == "week" else r.day
        item = items.setdefault((period, r.banner_version), {
            "period": period, "banner_version": r.banner_version, "total": 0, "accept_all": 0,
            "reject_all": 0, "custom": 0, "dismiss": 0, "gpc": 0, "by_category": {},
        })  # fmt: skip
        item["total"] += r.n
        item["custom" if r.action == "save" else r.action] += r.n
        if r.gpc:
            item["gpc"] += r.n
        for key, granted in r.categories.items():
            item["by_category"][key] = item["by_category"].get(key, 0) + (r.n if granted else 0)
    return [items[k] for k in sorted(items)]
