"""One table from exceptions to RFC 9457 problem+json. A 5xx never leaks internals.

Logs name the route template, never the raw path (a ``/u/`` path holds a
capability token), and never an exception's message: a database error's
message and DETAIL can quote whole rows ("Failing row contains (...)"), so
only its type, SQLSTATE and constraint are logged.
"""

from __future__ import annotations

import functools
import re
import traceback
from typing import Any

import asyncpg
import msgspec
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from consent_svc.domain.errors import Conflict, DomainError, InvalidInput, NotFound, Refused
from consent_svc.http.middleware import route_of
from consent_svc.http.ratelimit import RateLimited
from consent_svc.integrations import CertificateUnavailable, VerificationFailed
from consent_svc.service.integrations import SecretsUnreadable

PROBLEM = "application/problem+json"
_log = structlog.get_logger("consent_svc.http")

_STATUS: dict[type[DomainError], int] = {
    InvalidInput: 400,
    NotFound: 404,
    Conflict: 409,
    Refused: 422,
    VerificationFailed: 401,
    CertificateUnavailable: 503,
    SecretsUnreadable: 503,
}
# Which check a provider request failed is logged, never answered: an answer would tell a
# forger what to fix.
_FIXED_DETAIL = {
    VerificationFailed: "the request is not verified as coming from the integration's provider",
    CertificateUnavailable: "the provider's signing certificate cannot be checked now; deliver again later",
    SecretsUnreadable: "the integration's secrets cannot be read now; the operator is told",
}

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Refused by the rules",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

_UNAVAILABLE = "the database is unavailable for a moment (restart or failover); retry, with the same idempotency_key"
_INTERNAL = "the server could not answer; the request id identifies it in the logs"


def problem_body(
    status: int, detail: str, *, title: str | None = None, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://consent-svc.dev/problems/{status}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    body = problem_body(status, detail, title=title, errors=errors)
    return Response(content=body, status_code=status, media_type=PROBLEM, headers=headers)


def _domain(_: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if isinstance(exc, RateLimited):
        return problem(429, exc.detail, headers={"Retry-After": str(exc.retry_after)})
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
    errors = None
    if isinstance(exc, InvalidInput):
        errors = [{"field": e.field, "message": e.message} for e in exc.errors]
    fixed = next((text for cls, text in _FIXED_DETAIL.items() if isinstance(exc, cls)), None)
    if fixed is not None:
        if isinstance(exc, SecretsUnreadable):
            _log.error("integration secrets unreadable", detail=exc.detail)
        return problem(status, fixed, title=exc.title, headers={"Retry-After": "60"} if status == 503 else None)
    return problem(status, exc.detail, title=exc.title, errors=errors)


def domain_problem(request: Request[Any, Any, Any], exc: DomainError, headers: dict[str, str]) -> Response[Any]:
    """The problem+json answer to ``exc`` with extra headers (the banner's CORS headers, so that
    banner.js can read a 409 or a 429 and act on it)."""
    answer = _domain(request, exc)
    answer.headers.update(headers)
    return answer


def _field_of(key: str | None) -> str:
    if not key or key == "data":
        return "body"
    return key.removeprefix("$.") if key.startswith("$.") else key


_MISSING_PARAMETER = re.compile(r"Missing required (\w+) parameter '([^']+)'")
_PATH_TOKEN = re.compile(r"\[\d+\]|[^.\[\]]+")


def _walk(info: msgspec.inspect.Type, tokens: list[str]) -> msgspec.inspect.Type | None:
    """The type at a field path (``origins[0]``, ``subject.email``) below ``info``."""
    for token in tokens:
        info = _unwrap(info, structured=True)
        if token.startswith("[") and isinstance(info, (msgspec.inspect.ListType, msgspec.inspect.SetType)):
            info = info.item_type
        elif isinstance(info, msgspec.inspect.StructType):
            found = [f.type for f in info.fields if f.encode_name == token]
            if not found:
                return None
            info = found[0]
        else:
            return None
    return info


def _unwrap(info: msgspec.inspect.Type, *, structured: bool = False) -> msgspec.inspect.Type:
    """Look through ``X | None`` (to the struct or list, when ``structured``)."""
    if isinstance(info, msgspec.inspect.UnionType):
        kinds = (msgspec.inspect.StructType, msgspec.inspect.ListType) if structured else (msgspec.inspect.Type,)
        rest = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType) and isinstance(t, kinds)]
        return rest[0] if len(rest) == 1 else info
    return info


@functools.lru_cache(maxsize=512)
def _explained(handler: Any, field: str, message: str) -> str:
    """A message that says what would be accepted: the allowed values of an enum, the form a pattern
    stands for (its ``description``), instead of msgspec's 'Invalid enum value' or a regex."""
    enum = message.startswith("Invalid enum value")
    if not enum and not message.startswith("Expected `str` matching regex"):
        return message
    try:
        params = handler.parsed_fn_signature.parameters
        tokens = _PATH_TOKEN.findall(field)
        if tokens and tokens[0] in params and tokens[0] != "data":
            info: msgspec.inspect.Type | None = _walk(
                msgspec.inspect.type_info(params[tokens[0]].annotation), tokens[1:]
            )
        elif "data" in params:
            info = _walk(msgspec.inspect.type_info(params["data"].annotation), tokens)
        else:
            return message
    except (AttributeError, TypeError, ValueError):  # a type msgspec cannot describe: keep its own words
        return message
    info = _unwrap(info) if info is not None else None
    if enum and isinstance(info, msgspec.inspect.LiteralType):
        got = message.removeprefix("Invalid enum value").strip()
        return f"must be one of {', '.join(map(str, info.values))}" + (f" (got {got})" if got else "")
    if isinstance(info, msgspec.inspect.Metadata) and (info.extra_json_schema or {}).get("description"):
        return f"must be {info.extra_json_schema['description']}"  # type: ignore[index]
    return message


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    found: list[tuple[str | None, str]] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            found.append((item.get("key"), str(item.get("message", "is invalid"))))
    errors = [_error(request, key, message) for key, message in found or [(None, exc.detail or "is invalid")]]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
    return problem(400, detail, title="Invalid input", errors=errors)


def _error(request: Request[Any, Any, Any], key: str | None, message: str) -> dict[str, str]:
    # msgspec says "... - at `$.subject.email`": lift the path into "field".
    if " - at `" in message:
        message, _sep, path = message.partition(" - at `")
        key = path.rstrip("`")
    if missing := _MISSING_PARAMETER.search(message):
        # Named, and without litestar's "for path ..." (it would echo the query string back).
        key, message = missing.group(2), f"is required (a {missing.group(1)} parameter)"
    elif message == "'data'" and key in (None, "data"):  # litestar's words for a required body that is absent
        message = "a JSON body is required (the API reference at /schema shows its fields)"
    field = _field_of(key)
    return {"field": field, "message": _explained(request.route_handler, field, message)}


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        return problem(status, _INTERNAL)
    detail = exc.detail if exc.detail and exc.detail != _TITLES.get(status) else _TITLES.get(status, "error")
    return problem(status, detail, headers=exc.headers)


# The database is away (restarting, failing over, unreachable) or the
# connection reached a standby: the request can be retried. Writes carry
# idempotency keys, so a retry of a write whose commit did land is harmless.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,  # incl. connection lost, cannot connect now, admin/crash shutdown
    asyncpg.InterfaceError,
    asyncpg.TargetServerAttributeNotMatched,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


def _database_fields(exc: Exception) -> dict[str, Any]:
    """What may be logged of a database error: never its message or DETAIL."""
    fields: dict[str, Any] = {"exc_type": type(exc).__name__}
    if isinstance(exc, asyncpg.PostgresError):
        fields["sqlstate"] = exc.sqlstate
        for name in ("constraint_name", "table_name", "column_name"):
            value = getattr(exc, name, None)
            if value:
                fields[name.removesuffix("_name")] = value
    return fields


def _stack(exc: BaseException) -> list[str]:
    """Where an exception was raised, as ``file:line function`` (no message, no locals)."""
    frames = traceback.extract_tb(exc.__traceback__)[-12:]
    return [f"{f.filename.rsplit('/consent_svc/', 1)[-1]}:{f.lineno} {f.name}" for f in frames]


# A request the database's constraints refuse. The service layer validates
# first, so these are races (two writes of the same unique value at once) or
# values only the database catches (a NUL character in text); each transaction
# rolls back whole, so nothing is half-written.
_CONFLICTS = (
    asyncpg.UniqueViolationError,
    asyncpg.ExclusionViolationError,
    asyncpg.ForeignKeyViolationError,
    asyncpg.RestrictViolationError,
)


def _integrity(request: Request[Any, Any, Any], exc: asyncpg.IntegrityConstraintViolationError) -> Response[Any]:
    _log.warning("database refused a write", route=route_of(request.scope), **_database_fields(exc))  # type: ignore[arg-type]
    if isinstance(exc, _CONFLICTS):
        return problem(409, "the request conflicts with a change made at the same time; read again and retry")
    return problem(400, "a value in the request is outside what can be stored")


def _data(request: Request[Any, Any, Any], exc: asyncpg.DataError) -> Response[Any]:
    # SQLSTATE class 22: a value PostgreSQL cannot hold (a NUL character, "\u0000" in JSON, out of range ...).
    _log.warning("database refused a value", route=route_of(request.scope), **_database_fields(exc))  # type: ignore[arg-type]
    return problem(400, "a value in the request cannot be stored (for example a NUL character)")


def _unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    _log.warning("database unavailable", exc_type=type(exc).__name__, route=route_of(request.scope))  # type: ignore[arg-type]
    return problem(503, _UNAVAILABLE, headers={"Retry-After": "1"})


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    _log.error("unhandled error", route=route_of(request.scope), frames=_stack(exc), **_database_fields(exc))  # type: ignore[arg-type]
    return problem(500, _INTERNAL)


def unanswerable(route: str, exc: Exception) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of the answer to an exception a fast path (http/fastpath.py) cannot
    hand on to its route because the route would run the write again: the database went away
    (the commit may have landed) or a fault. Logged and answered as the handlers above do it."""
    if isinstance(exc, DATABASE_UNAVAILABLE):
        _log.warning("database unavailable", exc_type=type(exc).__name__, route=route)
        status, headers, detail = 503, [(b"retry-after", b"1")], _UNAVAILABLE
    else:
        _log.error("unhandled error", route=route, frames=_stack(exc), **_database_fields(exc))
        status, headers, detail = 500, [], _INTERNAL
    body = msgspec.json.encode(problem_body(status, detail))
    return status, [(b"content-type", PROBLEM.encode()), *headers], body


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    DomainError: _domain,
    ValidationException: _validation,
    HTTPException: _http,
    Exception: _internal,
    asyncpg.IntegrityConstraintViolationError: _integrity,
    asyncpg.DataError: _data,
    **dict.fromkeys(DATABASE_UNAVAILABLE, _unavailable),
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM", "MediaType", "problem"]
