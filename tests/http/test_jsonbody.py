"""The depth bound on JSON bodies (consent_svc.http.jsonbody): the quick way of finding the
brackets outside strings answers as the regular expression it replaced, on any bytes."""

from __future__ import annotations

import random
import re

from consent_svc.http.jsonbody import MAX_DEPTH, too_deep

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def reference(body: bytes, limit: int) -> bool:
    """too_deep as it was: strings cut out of the whole body by the regular expression."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", body).translate(_ONE_KIND, _NOT_A_BRACKET)
    run = b"[" * (limit + 1)
    for _ in range(limit):
        if run in brackets:
            return True
        inner_removed = brackets.replace(b"[]", b"")
        if len(inner_removed) == len(brackets):
            return False
        brackets = inner_removed
    return b"[]" in brackets


def test_agrees_with_the_regular_expression_on_random_bytes() -> None:
    rnd = random.Random(22)
    plain = [b"[", b"]", b"{", b"}", b'"', b"a", b",", b":", b"\n"]
    with_escapes = [*plain, b"\\", b'\\"', b"\\\\"]
    for alphabet in (plain, with_escapes):
        for _ in range(20_000):
            body = b"".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 40)))
            for limit in (1, 2, 3):
                assert too_deep(body, limit) == reference(body, limit), (body, limit)


def test_brackets_inside_strings_do_not_count() -> None:
    deep_text = b"[" * 100
    assert not too_deep(b'{"note": "' + deep_text + b'", "list": [[1]]}')
    assert not too_deep(b'{"note": "an escaped \\" quote ' + deep_text + b'"}')
    assert too_deep(b'{"note": "x", "deep": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}")  # 33 levels
    assert not too_deep(b'{"deep": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}")  # 32 levels
