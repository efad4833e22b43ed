"""Suppressions out: which entries a provider can take, the requests that push them, and a pusher.

``plan_pushes`` turns suppression entries (added or lifted in consent-svc,
from any source) into ``PushRequest``s for one integration, and says for each
entry it cannot push why not. A request holds no credentials and no address
in its ``description``: the outbox can keep it, the delivery log can show the
description. ``SuppressionPusher`` sends a request through an injected
``httpx.AsyncClient``, adding the credentials at that moment (SES requests are
signed then, with botocore's SigV4 signer, so a retry carries a fresh
signature), and retries what a provider may accept later (429, 5xx, network).

What each provider takes (exact shapes in docs/integrations.md):

- SES: the v2 account-level suppression list, ``PUT /v2/email/suppression/addresses``
  ``{"EmailAddress", "Reason": "BOUNCE"|"COMPLAINT"}`` and ``DELETE
  /v2/email/suppression/addresses/{EmailAddress}``. Only scope ``all``: the
  list stops every message to the address, so a per-purpose entry is skipped.
- SendGrid: global unsubscribes (scope ``all``): ``POST /v3/asm/suppressions/global``
  ``{"recipient_emails": [...]}``, ``DELETE /v3/asm/suppressions/global/{email}``;
  ASM group suppressions (a purpose mapped to group ids):
  ``POST /v3/asm/groups/{group_id}/suppressions``, ``DELETE .../suppressions/{email}``.
- Postmark: stream suppressions, ``POST /message-streams/{stream}/suppressions``
  and ``.../suppressions/delete`` with ``{"Suppressions": [{"EmailAddress"}]}``,
  for each stream mapped to the purpose (scope ``all``: every mapped stream).
- Mailgun: ``POST /v3/{domain}/unsubscribes`` (JSON list, ``tags`` ``["*"]``
  or the mapped tags) or, for a hard bounce, ``POST /v3/{domain}/bounces``;
  ``DELETE /v3/{domain}/unsubscribes/{address}`` (``?tag=`` for one tag) and
  ``DELETE /v3/{domain}/bounces/{address}``.
- Twilio: nothing (no API adds opt-outs; its list follows STOP/START replies).

An entry needs a plaintext email address: a hash-only entry (an erased
person's, or one imported as a hash) is skipped, as are phone entries and
entries for another channel than email.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal
from urllib.parse import quote

import httpx
import msgspec

from consent_svc.integrations.model import (
    MailgunSettings,
    PostmarkSettings,
    Provider,
    SendGridSettings,
    SesSettings,
    Settings,
    TwilioSettings,
)

Action = Literal["add", "lift"]
Method = Literal["POST", "PUT", "DELETE"]

DEFAULT_BASE_URLS: dict[Provider, str] = {
    "sendgrid": "https://api.sendgrid.com",
    "postmark": "https://api.postmarkapp.com",
    "mailgun": "https://api.mailgun.net",
    "ses": "https://email.{region}.amazonaws.com",
}
# Addresses per request where the API takes several (SendGrid and Mailgun take up to
# 1,000 a call; Postmark 50).
BATCH = {"sendgrid": 1000, "mailgun": 1000, "postmark": 50}


class OutboundSuppression(msgspec.Struct, frozen=True, kw_only=True):
    """A suppression entry as the store holds it (the ``suppressions`` row)."""

    id: str
    ident_type: Literal["email", "phone", "personal_number"]
    value: str | None  # the plaintext, normalized; None when only hashes are held
    scope: str  # "all" or a purpose key
    channel: str | None  # None: every channel
    reason: str  # unsubscribe, objection, complaint, hard_bounce, erasure, register, manual
    created_at: datetime

    def __repr__(self) -> str:
        return f"OutboundSuppression(id={self.id!r}, scope={self.scope!r}, reason={self.reason!r}, value=***)"


class PushRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One API call to a provider, without credentials (added when sent)."""

    provider: Provider
    method: Method
    path: str  # percent-encoded, from the API base URL's root
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None  # JSON
    entry_ids: tuple[str, ...]
    description: str  # for the delivery log: never an address

    def __repr__(self) -> str:
        return f"PushRequest({self.provider}: {self.description}; entries={len(self.entry_ids)})"


class SkippedEntry(msgspec.Struct, frozen=True, kw_only=True):
    entry_id: str
    reason: str


class PushPlan(msgspec.Struct, frozen=True, kw_only=True):
    requests: tuple[PushRequest, ...] = ()
    skipped: tuple[SkippedEntry, ...] = ()


class PushResult(msgspec.Struct, frozen=True, kw_only=True):
    """How a push went. ``retryable``: worth trying again later (the outbox reschedules)."""

    description: str
    entry_ids: tuple[str, ...]
    ok: bool
    attempts: int
    status: int | None = None
    retryable: bool = False
    error: str | None = None


def _skip_reason(provider: Provider, entry: OutboundSuppression) -> str | None:
    if provider == "twilio":
        return "Twilio has no API to add or lift opt-outs: its list follows the STOP and START replies it receives"
    if entry.ident_type != "email":
        what = "a phone number" if entry.ident_type == "phone" else "a personal number"
        return f"{provider} suppresses email addresses; this entry is for {what}"
    if entry.channel not in (None, "email"):
        return f"the entry is for the {entry.channel} channel, not email"
    if not entry.value:
        return f"hash-only entry (erased, or imported as a hash): {provider} needs the plaintext address"
    return None


def _groups_for(scope: str, groups: Mapping[str, str]) -> list[str]:
    """The provider groups an entry of ``scope`` concerns (scope ``all``: every mapped group)."""
    if scope == "all":
        return sorted(groups)
    return sorted(group for group, purpose in groups.items() if purpose == scope)


def plan_pushes(
    settings: Settings,
    entries: Iterable[OutboundSuppression],
    action: Action,
    *,
    groups: Mapping[str, str] | None = None,
) -> PushPlan:
    """The requests that make the provider agree with ``entries`` (``add``: suppress them;
    ``lift``: lift them), and the entries skipped with why.

    ``groups``: the integration's ``purposes`` map, provider group/stream/list id ->
    purpose key (SendGrid ASM group ids, Postmark stream ids, Mailgun tags).
    Adds to the same target are batched; lifts are one request an address
    (SendGrid, Mailgun and SES lift one address a call).
    """
    mapping = dict(groups or {})
    provider = _provider(settings)
    requests: list[PushRequest] = []
    skipped: list[SkippedEntry] = []
    # target -> (entry ids, addresses), kept in first-seen order for batching adds
    batches: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for entry in entries:
        reason = _skip_reason(provider, entry)
        if reason is not None:
            skipped.append(SkippedEntry(entry_id=entry.id, reason=reason))
            continue
        assert entry.value is not None
        if isinstance(settings, SesSettings):
            if entry.scope != "all":
                skipped.append(
                    SkippedEntry(
                        entry_id=entry.id,
                        reason="SES's suppression list is account-wide: a per-purpose entry would stop all mail",
                    )
                )
                continue
            requests.append(_ses_request(entry, action))
            continue
        targets = _targets(provider, entry, mapping)
        if not targets:
            skipped.append(
                SkippedEntry(
                    entry_id=entry.id,
                    reason=f"purpose {entry.scope!r} is mapped to no {_GROUP_NOUN[provider]} of this integration"
                    if entry.scope != "all"
                    else f"no {_GROUP_NOUN[provider]} is mapped in this integration",
                )
            )
            continue
        for target in targets:
            if action == "lift" and provider != "postmark":
                requests.append(_lift_one(settings, target, entry))
            else:
                ids, addresses = batches.setdefault(target, ([], []))
                ids.append(entry.id)
                addresses.append(entry.value)
    for (kind, ident), (ids, addresses) in batches.items():
        size = BATCH[provider]
        for start in range(0, len(addresses), size):
            requests.append(
                _batch_request(
                    settings, action, kind, ident, ids[start : start + size], addresses[start : start + size]
                )
            )
    return PushPlan(requests=tuple(requests), skipped=tuple(skipped))


_GROUP_NOUN: dict[Provider, str] = {
    "sendgrid": "ASM group",
    "postmark": "message stream",
    "mailgun": "tag",
    "ses": "list",
    "twilio": "list",
}


def _provider(settings: Settings) -> Provider:
    if isinstance(settings, SesSettings):
        return "ses"
    if isinstance(settings, SendGridSettings):
        return "sendgrid"
    if isinstance(settings, PostmarkSettings):
        return "postmark"
    if isinstance(settings, MailgunSettings):
        return "mailgun"
    if isinstance(settings, TwilioSettings):
        return "twilio"
    raise TypeError(type(settings).__name__)


def _targets(provider: Provider, entry: OutboundSuppression, groups: Mapping[str, str]) -> list[tuple[str, str]]:
    """(kind, id) pairs the entry goes to."""
    if provider == "sendgrid":
        if entry.scope == "all":
            return [("global", "")]
        return [("group", g) for g in _groups_for(entry.scope, groups) if g.isdigit()]
    if provider == "postmark":
        return [("stream", s) for s in _groups_for(entry.scope, groups)]
    # mailgun: a hard bounce goes to the bounce list; everything else to unsubscribes,
    # tag "*" (the whole domain) for scope all, else each mapped tag.
    if entry.reason == "hard_bounce" and entry.scope == "all":
        return [("bounces", "")]
    if entry.scope == "all":
        return [("unsubscribes", "*")]
    return [("unsubscribes", t) for t in _groups_for(entry.scope, groups)]


def _json(value: object) -> bytes:
    return msgspec.json.encode(value)


def _ses_request(entry: OutboundSuppression, action: Action) -> PushRequest:
    assert entry.value is not None
    reason = "BOUNCE" if entry.reason == "hard_bounce" else "COMPLAINT"
    if action == "add":
        return PushRequest(
            provider="ses",
            method="PUT",
            path="/v2/email/suppression/addresses",
            body=_json({"EmailAddress": entry.value, "Reason": reason}),
            entry_ids=(entry.id,),
            description=f"PutSuppressedDestination (Reason {reason})",
        )
    return PushRequest(
        provider="ses",
        method="DELETE",
        path="/v2/email/suppression/addresses/" + quote(entry.value, safe=""),
        entry_ids=(entry.id,),
        description="DeleteSuppressedDestination",
    )


def _mailgun_domain(settings: Settings) -> str:
    assert isinstance(settings, MailgunSettings)
    if not settings.domain:
        raise ValueError("the Mailgun integration has no domain to push to")
    return quote(settings.domain, safe="")


def _lift_one(settings: Settings, target: tuple[str, str], entry: OutboundSuppression) -> PushRequest:
    assert entry.value is not None
    address = quote(entry.value, safe="")
    kind, ident = target
    if isinstance(settings, SendGridSettings):
        if kind == "global":
            return PushRequest(
                provider="sendgrid",
                method="DELETE",
                path=f"/v3/asm/suppressions/global/{address}",
                entry_ids=(entry.id,),
                description="delete a global suppression",
            )
        return PushRequest(
            provider="sendgrid",
            method="DELETE",
            path=f"/v3/asm/groups/{quote(ident, safe='')}/suppressions/{address}",
            entry_ids=(entry.id,),
            description=f"delete a suppression from ASM group {ident}",
        )
    domain = _mailgun_domain(settings)
    if kind == "bounces":
        return PushRequest(
            provider="mailgun",
            method="DELETE",
            path=f"/v3/{domain}/bounces/{address}",
            entry_ids=(entry.id,),
            description="delete a bounce",
        )
    return PushRequest(
        provider="mailgun",
        method="DELETE",
        path=f"/v3/{domain}/unsubscribes/{address}",
        query=() if ident == "*" else (("tag", ident),),
        entry_ids=(entry.id,),
        description="delete an unsubscribe" + ("" if ident == "*" else f" for tag {ident}"),
    )


def _batch_request(
    settings: Settings, action: Action, kind: str, ident: str, ids: list[str], addresses: list[str]
) -> PushRequest:
    count = f"{len(addresses)} address{'es' if len(addresses) != 1 else ''}"
    if isinstance(settings, SendGridSettings):
        body = _json({"recipient_emails": addresses})
        if kind == "global":
            return PushRequest(
                provider="sendgrid",
                method="POST",
                path="/v3/asm/suppressions/global",
                body=body,
                entry_ids=tuple(ids),
                description=f"add {count} to global unsubscribes",
            )
        return PushRequest(
            provider="sendgrid",
            method="POST",
            path=f"/v3/asm/groups/{quote(ident, safe='')}/suppressions",
            body=body,
            entry_ids=tuple(ids),
            description=f"add {count} to ASM group {ident}",
        )
    if isinstance(settings, PostmarkSettings):
        suffix = "/delete" if action == "lift" else ""
        return PushRequest(
            provider="postmark",
            method="POST",
            path=f"/message-streams/{quote(ident, safe='')}/suppressions{suffix}",
            body=_json({"Suppressions": [{"EmailAddress": a} for a in addresses]}),
            entry_ids=tuple(ids),
            description=f"{'delete' if action == 'lift' else 'add'} {count} "
            f"{'from' if action == 'lift' else 'to'} the suppressions of stream {ident}",
        )
    domain = _mailgun_domain(settings)
    if kind == "bounces":
        return PushRequest(
            provider="mailgun",
            method="POST",
            path=f"/v3/{domain}/bounces",
            body=_json(
                [{"address": a, "code": "550", "error": "hard bounce recorded by consent-svc"} for a in addresses]
            ),
            entry_ids=tuple(ids),
            description=f"add {count} to bounces",
        )
    return PushRequest(
        provider="mailgun",
        method="POST",
        path=f"/v3/{domain}/unsubscribes",
        body=_json([{"address": a, "tags": [ident]} for a in addresses]),
        entry_ids=tuple(ids),
        description=f"add {count} to unsubscribes" + ("" if ident == "*" else f" for tag {ident}"),
    )


# ---------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------


def base_url(settings: Settings) -> str:
    provider = _provider(settings)
    override = getattr(settings, "api_base_url", None)
    if override:
        return str(override).rstrip("/")
    if isinstance(settings, SesSettings):
        if not settings.region:
            raise ValueError("the SES integration has no region")
        return DEFAULT_BASE_URLS["ses"].format(region=settings.region)
    return DEFAULT_BASE_URLS[provider]


def build_http_request(settings: Settings, request: PushRequest) -> httpx.Request:
    """The request with its credentials, ready to send (an SES request is SigV4-signed now)."""
    url = httpx.URL(base_url(settings) + request.path)
    if request.query:
        url = url.copy_merge_params(dict(request.query))
    headers: dict[str, str] = {"Accept": "application/json", "User-Agent": "consent-svc"}
    if request.body is not None:
        headers["Content-Type"] = "application/json"
    if isinstance(settings, SendGridSettings):
        headers["Authorization"] = f"Bearer {_need(settings.api_key, 'api_key')}"
    elif isinstance(settings, PostmarkSettings):
        headers["X-Postmark-Server-Token"] = _need(settings.server_token, "server_token")
    elif isinstance(settings, MailgunSettings):
        token = base64.b64encode(f"api:{_need(settings.api_key, 'api_key')}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif isinstance(settings, SesSettings):
        headers = sigv4_headers(settings, request.method, str(url), headers, request.body or b"")
    return httpx.Request(request.method, url, headers=headers, content=request.body)


def sigv4_headers(
    settings: SesSettings, method: str, url: str, headers: Mapping[str, str], body: bytes
) -> dict[str, str]:
    """``headers`` plus ``X-Amz-Date``, ``Authorization`` (and ``X-Amz-Security-Token``), by botocore's SigV4."""
    from botocore.auth import SigV4Auth  # botocore is slow to import: only when SES is used
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    region = _need(settings.region, "region")
    credentials = Credentials(
        _need(settings.access_key_id, "access_key_id"),
        _need(settings.secret_access_key, "secret_access_key"),
        settings.session_token,
    )
    aws = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(credentials, "ses", region).add_auth(aws)
    return {str(k): str(v) for k, v in aws.headers.items()}


def _need(value: str | None, name: str) -> str:
    if not value:
        raise ValueError(f"the integration has no {name} for pushing suppressions")
    return value


_EMAIL_LIKE = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+")


def _scrub(text: str) -> str:
    """A provider's error text, shortened, with anything that looks like an address masked."""
    return _EMAIL_LIKE.sub("***", " ".join(text.split()))[:300]


class SuppressionPusher:
    """Sends ``PushRequest``s through an injected ``httpx.AsyncClient``, with retries.

    Up to ``attempts`` tries while the answer is 429, a 5xx or a network error,
    waiting ``backoff`` x 2^n seconds (or the ``Retry-After`` the provider gives,
    at most ``max_wait``) between them. A lift answered 404 is done (the address
    was not on the list). Postmark answers 200 with a status per address: one
    ``Failed`` fails the push (not retryable: Postmark refuses to lift a spam
    complaint, for instance).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        attempts: int = 3,
        backoff: float = 0.5,
        max_wait: float = 30.0,
        timeout: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._max_wait = max_wait
        self._timeout = timeout
        self._sleep = sleep

    async def push(self, settings: Settings, request: PushRequest) -> PushResult:
        status: int | None = None
        error: str | None = None
        attempt = 0
        while attempt < self._attempts:
            attempt += 1
            wait = self._backoff * 2 ** (attempt - 1)
            try:
                http_request = build_http_request(settings, request)
                response = await self._client.send(http_request, follow_redirects=False)
                await response.aread()
            except ValueError as exc:  # the integration lacks what pushing needs: not worth retrying
                return self._result(request, ok=False, attempts=attempt, error=str(exc))
            except httpx.HTTPError as exc:
                status, error = None, f"network: {type(exc).__name__}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    failure = _postmark_failure(request, response)
                    if failure is None:
                        return self._result(request, ok=True, attempts=attempt, status=status)
                    return self._result(request, ok=False, attempts=attempt, status=status, error=failure)
                if status == 404 and request.method == "DELETE":
                    return self._result(request, ok=True, attempts=attempt, status=status)
                error = f"HTTP {status}: {_scrub(response.text)}"
                if status != 429 and status < 500:
                    return self._result(request, ok=False, attempts=attempt, status=status, error=error)
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    wait = float(retry_after)
            if attempt < self._attempts:
                await self._sleep(min(wait, self._max_wait))
        return self._result(request, ok=False, attempts=attempt, status=status, error=error, retryable=True)

    async def push_all(self, settings: Settings, requests: Sequence[PushRequest]) -> list[PushResult]:
        return [await self.push(settings, request) for request in requests]

    @staticmethod
    def _result(
        request: PushRequest,
        *,
        ok: bool,
        attempts: int,
        status: int | None = None,
        error: str | None = None,
        retryable: bool = False,
    ) -> PushResult:
        return PushResult(
            description=request.description,
            entry_ids=request.entry_ids,
            ok=ok,
            attempts=attempts,
            status=status,
            retryable=retryable,
            error=error,
        )


def _postmark_failure(request: PushRequest, response: httpx.Response) -> str | None:
    if request.provider != "postmark":
        return None
    try:
        answer = msgspec.json.decode(response.content)
        items = answer.get("Suppressions", []) if isinstance(answer, dict) else []
    except msgspec.DecodeError:
        return None
    failed = [item for item in items if isinstance(item, dict) and item.get("Status") == "Failed"]
    if not failed:
        return None
    message = failed[0].get("Message")
    return f"Postmark refused {len(failed)} of {len(items)}: {_scrub(str(message))}"
