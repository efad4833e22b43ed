"""structlog set-up: context variables first, JSON outside a terminal.

Never put a plaintext email or phone in an event: log the subject id.
"""

from __future__ import annotations

import logging
import sys

import msgspec
import structlog

_encode = msgspec.json.Encoder(enc_hook=str)


def _dumps(obj: object, **_: object) -> str:
    return _encode.encode(obj).decode()


def configure(log_format: str = "auto", level: str = "info") -> None:
    renderer: structlog.typing.Processor
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    if use_json:
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    numeric = getattr(logging, level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
