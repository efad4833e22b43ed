#!/usr/bin/env python3
"""Pull new suppression-list changes since the last run, for an email provider's block list.

    CONSENT_API=https://consent.example.se CONSENT_KEY=csk_... python3 sync_suppressions.py state.cursor

Keeps the cursor in a file; each run asks for everything added or lifted since
it, page by page, prints one JSON line per change (hand them to your provider:
add on `lifted_at: null`, remove otherwise), and saves the new cursor only
after a page is handled, so a crash repeats a page rather than skipping one.
Only the standard library is used. The `sha256` format sends the unkeyed
SHA-256 of the normalized address, the form suppression files are exchanged in;
use `format=plain` if your provider needs the address itself.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path


def main() -> int:
    api, key = os.environ["CONSENT_API"].rstrip("/"), os.environ["CONSENT_KEY"]
    state = Path(sys.argv[1] if len(sys.argv) > 1 else "suppressions.cursor")
    cursor = state.read_text().strip() if state.exists() else ""
    while True:
        query = urllib.parse.urlencode({"since": cursor, "format": "sha256", "limit": 1000})
        request = urllib.request.Request(  # noqa: S310 - the operator's own https URL
            f"{api}/v1/suppressions/export?{query}", headers={"Authorization": f"Bearer {key}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the operator's own URL
            page = json.load(response)
        for item in page["items"]:
            print(json.dumps(item))  # replace with a call to your provider
        if page["next_cursor"] == cursor:
            return 0
        cursor = page["next_cursor"]
        state.write_text(cursor + "\n")


if __name__ == "__main__":
    sys.exit(main())
