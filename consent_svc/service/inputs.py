"""Commands the use cases accept. Also the HTTP request bodies: unknown fields are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from consent_svc.domain.models import (
    Channel,
    EventType,
    LegalBasis,
    Source,
    SubjectKind,
    SuppressionReason,
)
from consent_svc.domain.registers import NAME_PATTERN as REGISTER_NAME


def whole(pattern: str) -> str:
    r"""``pattern`` anchored to the whole value, meaning the same to Python's ``re``
    (msgspec validates with ``re.search``) and to ECMA-262 (what readers of the
    OpenAPI document use). A bare ``$`` will not do: in Python it also matches
    before a final newline, so ``"newsletter\n"`` passed ``^...$`` and reached
    the database's CHECK as a 500. ``\Z`` will not do either: ECMA-262 has no
    ``\Z`` (it reads a literal ``Z``). ``(?!\n)$`` is the very end in both."""
    return rf"^(?:{pattern})(?!\n)$"


PURPOSE_KEY = whole(r"[a-z0-9][a-z0-9_-]{0,63}")
PurposeKey = Annotated[
    str,
    Meta(pattern=PURPOSE_KEY, description="a purpose key: 1-64 of a-z, 0-9, _ and -, starting with a letter or digit"),
]
AwareDatetime = Annotated[datetime, Meta(tz=True)]
ShortText = Annotated[str, Meta(max_length=200)]
LocalizedText = Annotated[
    dict[
        Annotated[str, Meta(pattern=whole(r"[a-z]{2}"), description="a two-letter language code such as sv or en")],
        Annotated[str, Meta(min_length=1, max_length=4000)],
    ],
    Meta(max_length=20),
]


class SubjectRef(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Who: at least one of email, phone, external_id, personal_number."""

    email: Annotated[str, Meta(max_length=320)] | None = None
    phone: Annotated[str, Meta(max_length=64)] | None = None
    external_id: Annotated[str, Meta(max_length=200)] | None = None
    personal_number: (
        Annotated[
            str,
            Meta(max_length=32, description="a Swedish personnummer or samordningsnummer (held only as a keyed hash)"),
        ]
        | None
    ) = None
    kind: SubjectKind | None = None


HEX_SHA256 = whole(r"[0-9a-f]{64}")


class ProviderProof(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where a change an email or SMS provider reported came from (written by consent-svc only)."""

    provider: Literal["ses", "sendgrid", "postmark", "mailgun", "twilio"]
    integration_id: UUID
    event_id: Annotated[str, Meta(max_length=500)]
    provider_event: Annotated[str, Meta(max_length=200)]
    occurred_at: AwareDatetime
    payload_sha256: Annotated[str, Meta(pattern=HEX_SHA256)]


class ImportProof(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where an imported event came from (written by consent-svc's console import only)."""

    imported_from: Literal["mailchimp", "brevo", "csv"]
    file_sha256: Annotated[str, Meta(pattern=HEX_SHA256)]
    row: Annotated[int, Meta(ge=1)]


class Proof(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """What the person saw and did (GDPR 7(1))."""

    notice_version: Annotated[str, Meta(min_length=1, max_length=100)] | None = None
    notice_text_sha256: (
        Annotated[str, Meta(pattern=whole(r"[0-9a-f]{64}"), description="64 lower-case hex digits (a SHA-256)")] | None
    ) = None
    ip: Annotated[str, Meta(max_length=64)] | None = None
    user_agent: Annotated[str, Meta(max_length=1000)] | None = None
    form_url: Annotated[str, Meta(max_length=2000)] | None = None
    consent_id: Annotated[str, Meta(max_length=100)] | None = None
    note: Annotated[str, Meta(max_length=2000)] | None = None
    provider_feedback: ProviderProof | None = None
    imported: ImportProof | None = None


# gc=False: a batch makes one per event, and nothing in it can lead back to it (no cycle), so the
# collector need not walk them (GC during a 10,000-event batch ~40 -> ~27 ms).
class EventIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    subject: SubjectRef
    type: EventType
    purpose: PurposeKey | None = None
    channels: Annotated[list[Channel], Meta(max_length=4)] = []
    occurred_at: AwareDatetime | None = None
    source: Source = "api"
    proof: Proof | None = None
    idempotency_key: Annotated[str, Meta(min_length=1, max_length=200)] | None = None


MAX_EVENTS_PER_BATCH = 10_000


class EventBatchIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    events: Annotated[list[EventIn], Meta(min_length=1, max_length=MAX_EVENTS_PER_BATCH)]


class PurposeIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A purpose's configuration, the flat fields of decision-rules.md."""

    legal_basis: LegalBasis
    direct_marketing: bool
    channels: Annotated[list[Channel], Meta(min_length=1, max_length=4)]
    notice_version: Annotated[str, Meta(min_length=1, max_length=100)]
    title: LocalizedText
    description: LocalizedText
    consent_ttl_days: Annotated[int, Meta(ge=1, le=36_500)] | None = 730
    reconsent_required_before: AwareDatetime | None = None
    soft_opt_in: Annotated[
        bool,
        Meta(
            description=(
                "ePrivacy 13(2) / MFL 19 § 2 st.: the purpose markets the tenant's own similar products AND every "
                "sale that collects contact details offers the opt-out, free and easily (docs/adr/0008)"
            )
        ),
    ] = False
    double_opt_in: Annotated[
        bool,
        Meta(
            description=(
                "only consents the person confirmed by the link sent to their address count (sign-ups, "
                "docs/forms.md); email-only purposes"
            )
        ),
    ] = False
    customer_after_end_days: Annotated[int, Meta(ge=0, le=36_500)] = 730
    event_days: Annotated[int, Meta(ge=0, le=36_500)] = 1095
    lead_inactivity_days: Annotated[int, Meta(ge=0, le=36_500)] = 730
    retention_days: Annotated[int, Meta(ge=0, le=36_500)] = 730
    registers: (
        Annotated[
            list[Annotated[str, Meta(pattern=whole(REGISTER_NAME), description="a register name")]],
            Meta(
                max_length=10,
                description=(
                    "opt-out registers R1 checks for direct marketing on their channel (nix-telefon, "
                    "nix-adresserat, spar-reklamsparr or your own); absent or null: phone checks nix-telefon and "
                    "post nix-adresserat and spar-reklamsparr; [] checks none"
                ),
            ),
        ]
        | None
    ) = None


class SuppressionIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: Annotated[str, Meta(max_length=320)] | None = None
    phone: Annotated[str, Meta(max_length=64)] | None = None
    personal_number: (
        Annotated[
            str,
            Meta(max_length=32, description="a Swedish personnummer or samordningsnummer (held only as a keyed hash)"),
        ]
        | None
    ) = None
    scope: Annotated[str, Meta(pattern=PURPOSE_KEY, description="'all' or a purpose key")] = "all"
    channel: Channel | None = None
    reason: SuppressionReason
    source: Annotated[str, Meta(max_length=100)] | None = None
    note: Annotated[str, Meta(max_length=1000)] | None = None


class LiftIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, Meta(min_length=1, max_length=1000)]


class Recipient(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: Annotated[str, Meta(max_length=320)] | None = None
    phone: Annotated[str, Meta(max_length=64)] | None = None
    external_id: Annotated[str, Meta(max_length=200)] | None = None
    personal_number: (
        Annotated[
            str,
            Meta(max_length=32, description="a Swedish personnummer or samordningsnummer (held only as a keyed hash)"),
        ]
        | None
    ) = None


MAX_BATCH_RECIPIENTS = 100_000


class DecisionBatchIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    purpose: PurposeKey
    channel: Channel
    recipients: Annotated[list[Recipient], Meta(max_length=MAX_BATCH_RECIPIENTS)]


HttpUrl = Annotated[
    str,
    Meta(
        pattern=whole(r"https?://[^\s<>\"']+"),
        max_length=2000,
        description="an http:// or https:// URL without spaces, quotes or angle brackets",
    ),
]


class BrandingIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How the tenant appears on the preference page."""

    display_name: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    logo_url: HttpUrl | None = None
    primary_color: Annotated[str, Meta(pattern=whole(r"#[0-9a-fA-F]{6}"), description="a colour as #rrggbb")] | None = (
        None
    )
    privacy_policy_url: HttpUrl | None = None
    unsubscribe_mailto: Annotated[str, Meta(max_length=320)] | None = None


class BrandingPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Only the fields given change; ``null`` clears one (JSON merge patch, RFC 7396)."""

    display_name: Annotated[str, Meta(min_length=1, max_length=200)] | UnsetType | None = UNSET
    logo_url: HttpUrl | UnsetType | None = UNSET
    primary_color: (
        Annotated[str, Meta(pattern=whole(r"#[0-9a-fA-F]{6}"), description="a colour as #rrggbb")] | UnsetType | None
    ) = UNSET
    privacy_policy_url: HttpUrl | UnsetType | None = UNSET
    unsubscribe_mailto: Annotated[str, Meta(max_length=320)] | UnsetType | None = UNSET


class UnsubscribeLinkIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: Annotated[str, Meta(max_length=320)] | None = None
    subject_id: UUID | None = None
    purpose: PurposeKey | None = None


class UnsubscribeIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An unsubscribe received for an address (e.g. mail to the List-Unsubscribe mailto: address)."""

    email: Annotated[str, Meta(max_length=320)]
    purpose: PurposeKey | None = None
    note: Annotated[str, Meta(max_length=1000)] | None = None


class WebhookIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: Annotated[str, Meta(min_length=8, max_length=2000)]
    events: Annotated[list[str], Meta(min_length=1, max_length=10)]
    secret: Annotated[str, Meta(min_length=16, max_length=200)] | None = None


CategoryKey = Annotated[
    str,
    Meta(
        pattern=whole(r"[a-z][a-z0-9_]{0,31}"),
        description="a category key: 1-32 of a-z, 0-9 and _, starting with a letter",
    ),
]
Origin = Annotated[
    str,
    Meta(
        pattern=whole(r"https?://[A-Za-z0-9.\-\[\]:]+"),
        max_length=300,
        description="an origin: scheme://host[:port] with no path, not even a trailing slash (https://example.se)",
    ),
]


LanguageCode = Annotated[
    str, Meta(pattern=whole(r"[a-z]{2}"), description="a two-letter language code such as sv or en")
]
CookieName = Annotated[
    str,
    Meta(
        pattern=whole(r"[A-Za-z0-9_.\-]{1,100}\*?"),
        description="a cookie name, or a prefix ending in * (_ga*)",
    ),
]
GcmSignal = Literal[
    "ad_storage", "ad_user_data", "ad_personalization", "analytics_storage", "functionality_storage",
    "personalization_storage", "security_storage",
]  # fmt: skip


class CategoryIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    key: CategoryKey
    required: bool = False
    sale_or_share: bool = False
    title: LocalizedText
    description: LocalizedText
    # Shown in the settings layer: who receives data, and how long what this category stores lives.
    third_parties: Annotated[list[Annotated[str, Meta(min_length=1, max_length=200)]], Meta(max_length=50)] = []
    lifetime: LocalizedText | None = None
    # Deleted by banner.js when the category is refused or withdrawn (names, or prefixes ending in *).
    cookies: Annotated[list[CookieName], Meta(max_length=50)] = []


BannerText = Annotated[str, Meta(min_length=1, max_length=1000)]


class BannerTextsIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """The first layer's texts in one language. sv and en have defaults for each; another language
    gives them all. {controller} and {categories} are filled in; {category} in placeholder is the
    blocked element's category."""

    title: BannerText | None = None
    purposes: BannerText | None = None
    withdraw: BannerText | None = None
    controller: BannerText | None = None
    policy: BannerText | None = None
    accept: BannerText | None = None
    reject: BannerText | None = None
    settings: BannerText | None = None
    save: BannerText | None = None
    legend: BannerText | None = None
    gpc: BannerText | None = None
    consent_id: BannerText | None = None
    third_parties: BannerText | None = None
    lifetime: BannerText | None = None
    reopen: BannerText | None = None
    offline: BannerText | None = None
    failed: BannerText | None = None
    placeholder: BannerText | None = None
    placeholder_button: BannerText | None = None


class ReopenIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """banner.js's persistent control to reopen the settings after a choice."""

    position: Literal["bottom-left", "bottom-right"] = "bottom-left"
    own_link: bool = False  # the site's pages carry their own [data-consent-svc-open] link: no control


class GoogleConsentModeIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    region: Annotated[
        list[Annotated[str, Meta(pattern=whole(r"[A-Z]{2}(-[A-Z0-9]{1,3})?"), description="ISO 3166-1 or -2")]],
        Meta(max_length=300),
    ] = []
    wait_for_update: Annotated[int, Meta(ge=0, le=10_000)] = 500
    mapping: dict[CategoryKey, Annotated[list[GcmSignal], Meta(max_length=7)]] | None = None


class SiteIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A website with a banner: its origins, categories and texts per language, the controller and
    privacy policy the first layer names, and how long a choice lasts."""

    name: Annotated[str, Meta(min_length=1, max_length=200)]
    origins: Annotated[list[Origin], Meta(min_length=1, max_length=20)]
    categories: Annotated[list[CategoryIn], Meta(min_length=1, max_length=20)]
    policy_url: Annotated[str, Meta(pattern=whole(r"https?://[^\s]+"), max_length=2000, description="an http(s) URL")]
    controller: Annotated[str, Meta(min_length=1, max_length=200, description="the controller's name")]
    validity_days: Annotated[int, Meta(ge=1, le=395)] = 182
    gpc_domains: Annotated[
        list[Annotated[str, Meta(pattern=whole(r"[a-z0-9.\-]{1,253}"), description="a domain name in lower case")]],
        Meta(max_length=20),
    ] = []
    languages: Annotated[list[LanguageCode], Meta(min_length=1, max_length=20)] = msgspec.field(
        default_factory=lambda: ["sv", "en"]
    )
    default_language: LanguageCode | None = None  # None: the first of languages
    texts: Annotated[dict[LanguageCode, BannerTextsIn], Meta(max_length=20)] = {}
    reopen: ReopenIn = msgspec.field(default_factory=ReopenIn)
    google_consent_mode: GoogleConsentModeIn | None = None
    meta_pixel: bool = False  # fbq('consent', 'grant' | 'revoke') follows the marketing category


class BannerConsentIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    visitor_id: (
        Annotated[str, Meta(pattern=whole(r"[A-Za-z0-9_\-]{1,64}"), description="1-64 of A-Z, a-z, 0-9, _ and -")]
        | None
    ) = None
    categories: Annotated[dict[CategoryKey, bool], Meta(max_length=20)] = {}
    action: Literal["accept_all", "reject_all", "save", "dismiss"]
    banner_version: Annotated[int, Meta(ge=1)]
    language: LanguageCode = "sv"  # one of the site's languages
    gpc_signal: bool = False  # navigator.globalPrivacyControl, as the script saw it


class ReceiptLinkIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    subject: SubjectRef


class SubjectPatchIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Rectification: a new email replaces the old one (likewise phone, external id, personal number)."""

    email: Annotated[str, Meta(max_length=320)] | None = None
    phone: Annotated[str, Meta(max_length=64)] | None = None
    external_id: Annotated[str, Meta(max_length=200)] | None = None
    personal_number: (
        Annotated[
            str,
            Meta(max_length=32, description="a Swedish personnummer or samordningsnummer (held only as a keyed hash)"),
        ]
        | None
    ) = None
    kind: SubjectKind | None = None


class ErasureIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, Meta(max_length=1000)] | None = None


IntegrationProvider = Literal["ses", "sendgrid", "postmark", "mailgun", "twilio"]
ProviderGroup = Annotated[str, Meta(min_length=1, max_length=300)]
ProviderGroups = Annotated[
    dict[ProviderGroup, PurposeKey],
    Meta(
        max_length=200,
        description="provider group / stream / list id -> purpose key (SendGrid ASM group ids, Postmark "
        "message streams, Mailgun tags or mailing lists, SES configuration sets)",
    ),
]
ProviderSettings = Annotated[
    dict[Annotated[str, Meta(max_length=64)], Any],
    Meta(max_length=30, description="the provider's settings (docs/integrations.md); secret fields are write-only"),
]


class IntegrationIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An email or SMS provider to take feedback from and (with sync_suppressions) push suppressions to."""

    provider: IntegrationProvider
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    settings: ProviderSettings = {}
    purposes: ProviderGroups = {}
    sync_suppressions: bool = False


class IntegrationPatchIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A change: ``settings`` fields are merged over the stored ones (null removes one; a secret not
    named is kept); ``purposes`` replaces the map; ``regenerate_credentials`` (Postmark) makes new
    basic-auth credentials, shown once."""

    name: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    settings: ProviderSettings | None = None
    purposes: ProviderGroups | None = None
    sync_suppressions: bool | None = None
    regenerate_credentials: bool = False


Language = Literal["sv", "en"]


class SignupProofIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """What the sign-up form showed and who sent it; the IP is kept only as its /24 (IPv6 /48)."""

    notice_version: Annotated[str, Meta(min_length=1, max_length=100)] | None = None
    form_url: Annotated[str, Meta(max_length=2000)] | None = None
    ip: Annotated[str, Meta(max_length=64)] | None = None
    user_agent: Annotated[str, Meta(max_length=1000)] | None = None


class SignupIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A double opt-in sign-up: confirmed by a link sent to ``email`` (a ``phone`` may come along)."""

    email: Annotated[str, Meta(max_length=320)] | None = None
    phone: Annotated[str, Meta(max_length=64)] | None = None
    purposes: Annotated[list[PurposeKey], Meta(min_length=1, max_length=20)]
    language: Language = "sv"
    proof: SignupProofIn = msgspec.field(default_factory=SignupProofIn)


FormField = Literal["email", "phone"]


class FormIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A sign-up form on a website: where it may be sent from, what it signs up for."""

    name: Annotated[str, Meta(min_length=1, max_length=200)]
    origins: Annotated[list[Origin], Meta(min_length=1, max_length=20)]
    purposes: Annotated[list[PurposeKey], Meta(min_length=1, max_length=20)]
    fields: Annotated[list[FormField], Meta(min_length=1, max_length=2)] = msgspec.field(
        default_factory=lambda: ["email"]
    )
    success_url: HttpUrl | None = None
    language: Language = "sv"


class FormSubmissionIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What a sign-up form sends (JSON); ``website`` is the honeypot, left empty by people."""

    email: Annotated[str, Meta(max_length=320)]
    phone: Annotated[str, Meta(max_length=64)] | None = None
    website: Annotated[str, Meta(max_length=2000)] | None = None


class ReconsentLinkIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: Annotated[str, Meta(max_length=320)] | None = None
    subject_id: UUID | None = None
    purpose: PurposeKey
