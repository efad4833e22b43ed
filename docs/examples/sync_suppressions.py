#!/usr/bin/env python3
"""Keep an email (or SMS) provider's block list equal to consent-svc's suppression list.

    CONSENT_API=https://consent.example.se CONSENT_KEY=csk_... python3 sync_suppressions.py state.cursor

Each run asks for every change since the saved cursor, page by page, and prints
one JSON line per address whose state it learned, for your provider:

    {"action": "block", "sha256": "…"}                      add to the provider's list
    {"action": "unblock", "sha256": "…"}                    remove from it
      (with CONSENT_SYNC_FORMAT=plain each line also carries "email": "…")
    {"action": "block", "sha256": "…", "erased": true}      the person was erased: also delete
                                                             the contact the provider holds (by hash)

How it decides: never from one entry's `lifted_at` (an address can have an
active complaint and a lifted manual entry at once), but from the item's
`active` list, which is everything blocking the address at the time of the
read. The address is blocked on the provider's channel when an active entry
has that channel (or none, meaning every channel) and a scope this provider
sends for. Items come oldest change first and each carries the newest state,
so applying them in order ends with the state of now. The cursor is saved only
after a page is handled: a crash repeats a page rather than skipping one.

Settings (environment):
    CONSENT_SYNC_CHANNEL  email (default), sms or phone: the provider's channel
    CONSENT_SYNC_SCOPES   the purposes this provider's stream sends, comma separated; by default
                          every purpose, so an unsubscribe from any one purpose keeps the address
                          off the whole stream (safe: it can block too much, never too little).
                          Entries with scope "all" always count.
    CONSENT_SYNC_FORMAT   sha256 (default; email only) or plain (the address or number too;
                          needed for SMS). Erased people have no address any more, only sha256.

Only the standard library is used.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

IDENTIFIER_OF_CHANNEL = {"email": "email", "sms": "phone", "phone": "phone"}


def blocked(active: list[dict[str, Any]], channel: str, scopes: set[str] | None) -> bool:
    """Whether what is active for an address blocks it for this provider."""
    return any(
        a["channel"] in (None, channel) and (a["scope"] == "all" or scopes is None or a["scope"] in scopes)
        for a in active
    )


def instruction(item: dict[str, Any], channel: str, scopes: set[str] | None) -> dict[str, Any] | None:
    """The provider's instruction for one change, or None when it is not about this provider."""
    if item["type"] != IDENTIFIER_OF_CHANNEL[channel]:
        return None  # another kind of identifier (a phone for an email provider, a CRM id)
    address = {k: item[k] for k in ("sha256", "email", "phone") if item.get(k)}
    if not address:
        return None  # a phone number in the sha256 format: ask with format=plain
    out: dict[str, Any] = {"action": "block" if blocked(item["active"], channel, scopes) else "unblock", **address}
    if any(a["scope"] == "all" and "erasure" in a["reasons"] for a in item["active"]):
        out["erased"] = True
    return out


def main() -> int:
    api, key = os.environ["CONSENT_API"].rstrip("/"), os.environ["CONSENT_KEY"]
    channel = os.environ.get("CONSENT_SYNC_CHANNEL", "email")
    if channel not in IDENTIFIER_OF_CHANNEL:
        print(f"CONSENT_SYNC_CHANNEL is one of {', '.join(IDENTIFIER_OF_CHANNEL)}", file=sys.stderr)
        return 2
    listed = os.environ.get("CONSENT_SYNC_SCOPES", "").strip()
    scopes = {s.strip() for s in listed.split(",") if s.strip()} if listed else None
    fmt = os.environ.get("CONSENT_SYNC_FORMAT", "sha256")
    state = Path(sys.argv[1] if len(sys.argv) > 1 else "suppressions.cursor")
    cursor = state.read_text().strip() if state.exists() else ""
    while True:
        query = urllib.parse.urlencode({"cursor": cursor, "format": fmt, "limit": 1000} if cursor else
                                       {"format": fmt, "limit": 1000})  # fmt: skip
        request = urllib.request.Request(  # noqa: S310 - the operator's own https URL
            f"{api}/v1/suppressions/export?{query}", headers={"Authorization": f"Bearer {key}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the operator's own URL
            page = json.load(response)
        for item in page["items"]:
            todo = instruction(item, channel, scopes)
            if todo is not None:
                print(json.dumps(todo), flush=True)  # replace with a call to your provider
        if page["next_cursor"]:
            cursor = page["next_cursor"]
            state.write_text(cursor + "\n")
        if not page["has_more"]:
            return 0


if __name__ == "__main__":
    sys.exit(main())
