"""Cursor pagination for every listing: ``?cursor=&limit=`` in, ``{"items", "next_cursor"}`` out.

A cursor is opaque to clients (base64url of the position where the next page
starts); ``next_cursor`` is null on the last page. Services page by key and
hand back the next position (``consent_svc.domain.records.Page``); this module
only encodes and decodes it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, TypeVar

import msgspec
from litestar.params import Parameter

from consent_svc.domain.errors import InvalidInput

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Limit = Annotated[
    int, Parameter(ge=1, le=MAX_LIMIT, description=f"items per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})")
]
Cursor = Annotated[
    str | None,
    Parameter(max_length=512, description="the next_cursor of the previous page (absent: the first page)"),
]
T = TypeVar("T")


def encode_cursor(position: Any | None) -> str | None:
    """The opaque cursor of a position (None stays None: no next page)."""
    if position is None:
        return None
    return base64.urlsafe_b64encode(msgspec.json.encode(position)).rstrip(b"=").decode()


def decode_cursor(raw: str | None, type_: type[T], field: str = "cursor") -> T | None:
    """The position a cursor holds, or None for the first page; a cursor this service did not
    hand out is a 400."""
    if not raw:
        return None
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        return msgspec.json.decode(data, type=type_)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise InvalidInput.field(field, "is not a cursor this listing handed out") from None
