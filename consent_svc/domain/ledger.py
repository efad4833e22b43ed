"""The ledger's hash chain (pure).

Each tenant's events form one chain in the order they were sealed:

    digest_i = SHA-256(canonical content of event i)      (kept as erased_digest after an erasure)
    hash_i   = SHA-256(hash_{i-1} || digest_i),  hash_0 = SHA-256("consent-svc ledger v1|" || tenant id)

The canonical content is a JSON array with a fixed order and sorted object keys,
so the same row always gives the same digest. The subject kind an event named
is appended when there is one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

_encoder = msgspec.json.Encoder(order="sorted")


def genesis(tenant_id: UUID) -> bytes:
    return hashlib.sha256(b"consent-svc ledger v1|" + tenant_id.bytes).digest()


def content_digest(
    event_id: UUID,
    subject_id: UUID,
    type_: str,
    purpose: str | None,
    channels: Sequence[str],
    occurred_at: datetime,
    recorded_at: datetime,
    source: str,
    proof: dict[str, Any],
    idempotency_key: str | None,
    subject_kind: str | None = None,
) -> bytes:
    canonical: list[Any] = [
        str(event_id), str(subject_id), type_, purpose, list(channels), occurred_at.isoformat(),
        recorded_at.isoformat(), source, proof, idempotency_key,
    ]  # fmt: skip
    if subject_kind is not None:
        # Added with rules v2; events that name no kind keep the digest they always had.
        canonical.append(subject_kind)
    return hashlib.sha256(_encoder.encode(canonical)).digest()


def link(previous: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(previous + digest).digest()
