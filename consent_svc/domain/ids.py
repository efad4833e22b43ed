"""Time-ordered UUIDs (version 7, RFC 9562), generated here so any PostgreSQL works."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    """A UUIDv7: 48 bits of Unix milliseconds, a 12-bit counter that keeps ids
    monotonic within one millisecond in this process, then 62 random bits."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                ms += 1
                _counter = 0
        else:
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        _last_ms = ms
        counter = _counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand
    return uuid.UUID(int=value)


def uuid7_floor(at_ms: int) -> uuid.UUID:
    """The smallest UUIDv7 of a millisecond: every id made at or after it sorts at or above it
    (a time range over a uuid7 key, on its primary key index)."""
    return uuid.UUID(int=((at_ms & ((1 << 48) - 1)) << 80) | (0x7 << 76) | (0b10 << 62))
