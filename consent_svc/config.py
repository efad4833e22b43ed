"""Settings: every ``CONSENT_*`` environment variable, read once into one frozen object.

Secrets (the identifier pepper, the token signing keys) come from the
environment. When they are absent, they are generated once and kept in the
data directory with mode 0600, so the embedded default needs no set-up and a
restart finds the same keys. They are never logged: :class:`Secret` hides its
value from ``repr``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["ConfigError", "Secret", "Settings", "load_settings"]


class ConfigError(ValueError):
    """A ``CONSENT_*`` variable has a value we cannot use."""


class Secret:
    """A byte string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where confirmation emails go (``CONSENT_SMTP_URL``): ``smtps://`` is TLS from the first
    byte (port 465 by default); ``smtp://`` must upgrade with STARTTLS (port 587 by default),
    except to a relay on loopback, which may be plain (a local MTA, the tests)."""

    host: str
    port: int
    implicit_tls: bool
    require_starttls: bool
    username: str | None = field(default=None, repr=False)
    password: Secret | None = field(default=None, repr=False)
    sender: str = ""  # CONSENT_SMTP_FROM: the From address (the tenant's name is its display name)


def parse_smtp_url(raw: str, sender: str) -> SmtpSettings:
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ConfigError("CONSENT_SMTP_URL must start with smtp:// or smtps://")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("CONSENT_SMTP_URL has a port that is not a number") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise ConfigError("CONSENT_SMTP_URL needs a host (smtp://user:password@host:587)")
    _, address = parseaddr(sender)
    if not sender or "@" not in address:
        raise ConfigError("CONSENT_SMTP_FROM must be set to an email address when CONSENT_SMTP_URL is set")
    implicit = scheme == "smtps"
    return SmtpSettings(
        host=host,
        port=port or (465 if implicit else 587),
        implicit_tls=implicit,
        require_starttls=not implicit and host not in LOOPBACK_HOSTS and not host.startswith("127."),
        username=unquote(parts.username) if parts.username else None,
        password=Secret(unquote(parts.password).encode()) if parts.password else None,
        sender=sender.strip(),
    )


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    # /metrics has a listener of its own, on loopback unless told otherwise; 0 = none.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    database_url: str | None = field(default=None, repr=False)  # may hold a password
    database_read_url: str | None = field(default=None, repr=False)  # a streaming replica, for decisions
    read_max_wait_ms: float = 50.0
    max_header_bytes: int = 16_384
    processes: int = 1
    data_dir: Path = field(default_factory=lambda: Path("data"))
    pepper: Secret = field(default_factory=lambda: Secret(b""), repr=False)
    token_keys: tuple[Secret, ...] = field(default=(), repr=False)
    # Keys that seal secrets kept in the database (provider API keys); empty: one derived from the pepper.
    encryption_keys: tuple[Secret, ...] = field(default=(), repr=False)
    public_url: str = "http://127.0.0.1:8000"
    public_url_configured: bool = False  # False: follow the host and port actually served on
    log_format: str = "auto"
    log_level: str = "info"
    webhook_allow_private: bool = False
    migrate_on_start: bool = True
    pool_min: int = 2
    pool_max: int = 10
    default_phone_region: str = "SE"
    max_body_bytes: int = 1_048_576
    max_batch_body_bytes: int = 64 * 1_048_576
    auth_cache_seconds: float = 5.0
    webhook_worker: bool = True
    ledger_seal_seconds: float = 1.0
    rate_limit_per_key: float = 5000.0
    sweep_interval_seconds: float = 86_400.0
    webhook_poll_seconds: float = 0.5
    webhook_timeout_seconds: float = 10.0
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_window_seconds: float = 86_400.0
    smtp: SmtpSettings | None = field(default=None, repr=False)  # None: sign-ups are announced by webhook
    confirm_ttl_hours: int = 72
    # The console (docs/console.md): its address in set-up links (CONSENT_CONSOLE_URL; default the
    # public url + /console), the key that signs its session cookies (CONSENT_CONSOLE_SESSION_KEY;
    # empty: derived from the first token key) and how long a session may sit idle.
    console_url: str = ""
    console_session_key: Secret | None = field(default=None, repr=False)
    console_idle_minutes: int = 30
    # Banner receipts never linked to a person are deleted this long after they expired (the sweep).
    banner_receipt_retention_days: int = 365


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be 1/0, true/false, yes/no or on/off, got {raw!r}")


def _env_int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _env_float(env: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _decode_secret(name: str, raw: str) -> bytes:
    raw = raw.strip()
    if len(raw) < 32:
        raise ConfigError(f"{name} must be at least 32 characters (use e.g. `openssl rand -hex 32`)")
    return raw.encode()


def _secret_file(data_dir: Path, name: str) -> bytes:
    """Read a generated secret from the data directory, creating it (0600) the first time."""
    path = data_dir / "secrets" / name
    if path.exists():
        value = path.read_text().strip()
        if len(value) < 32:
            raise ConfigError(f"{path} is damaged: expected at least 32 characters")
        return value.encode()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_hex(32)
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _secret_file(data_dir, name)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value.encode()


def default_data_dir(env: Mapping[str, str]) -> Path:
    raw = env.get("CONSENT_DATA_DIR")
    if raw:
        return Path(raw).expanduser().resolve()
    return (Path.cwd() / "data").resolve()


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the environment once. Raises :class:`ConfigError` with the variable's name."""
    env = os.environ if env is None else env
    data_dir = default_data_dir(env)
    log_format = env.get("CONSENT_LOG_FORMAT", "auto").strip().lower() or "auto"
    if log_format not in {"auto", "json", "console"}:
        raise ConfigError(f"CONSENT_LOG_FORMAT must be json, console or auto, got {log_format!r}")
    log_level = env.get("CONSENT_LOG_LEVEL", "info").strip().lower() or "info"
    if log_level not in {"debug", "info", "warning", "error"}:
        raise ConfigError(f"CONSENT_LOG_LEVEL must be debug, info, warning or error, got {log_level!r}")
    port = _env_int(env, "CONSENT_PORT", 8000, low=0, high=65535)
    host = env.get("CONSENT_HOST", "127.0.0.1").strip() or "127.0.0.1"
    metrics_port = _env_int(env, "CONSENT_METRICS_PORT", 9464, low=0, high=65535)
    metrics_host = env.get("CONSENT_METRICS_HOST", "127.0.0.1").strip() or "127.0.0.1"
    if metrics_port and metrics_port == port:
        raise ConfigError("CONSENT_METRICS_PORT must differ from CONSENT_PORT (metrics have a listener of their own)")
    database_url = env.get("CONSENT_DATABASE_URL", "").strip() or None

    database_read_url = env.get("CONSENT_DATABASE_READ_URL", "").strip() or None
    if database_read_url is not None and database_url is None:
        raise ConfigError("CONSENT_DATABASE_READ_URL needs CONSENT_DATABASE_URL (the primary it replicates)")

    if database_url is not None:
        # Replicas against one database must share the secrets: generating a
        # pepper per machine would silently split the suppression list.
        for name in ("CONSENT_PEPPER", "CONSENT_TOKEN_KEYS"):
            if not env.get(name):
                raise ConfigError(
                    f"{name} is required when CONSENT_DATABASE_URL is set "
                    "(generated secrets are kept only for the embedded database)"
                )

    if env.get("CONSENT_PEPPER"):
        pepper = _decode_secret("CONSENT_PEPPER", env["CONSENT_PEPPER"])
    else:
        pepper = _secret_file(data_dir, "pepper")

    if env.get("CONSENT_TOKEN_KEYS"):
        # Comma separated, newest first: the first signs, all verify (rotation).
        token_keys = tuple(
            Secret(_decode_secret("CONSENT_TOKEN_KEYS", part))
            for part in env["CONSENT_TOKEN_KEYS"].split(",")
            if part.strip()
        )
        if not token_keys:
            raise ConfigError("CONSENT_TOKEN_KEYS is set but holds no key")
    else:
        token_keys = (Secret(_secret_file(data_dir, "token-key")),)

    # Comma separated, newest first: the first seals, all open (rotation: `consent-svc integrations reseal`).
    encryption_keys = tuple(
        Secret(_decode_secret("CONSENT_ENCRYPTION_KEYS", part))
        for part in env.get("CONSENT_ENCRYPTION_KEYS", "").split(",")
        if part.strip()
    )

    public_url = env.get("CONSENT_PUBLIC_URL", "").strip().rstrip("/")
    if not public_url:
        public_url = f"http://{host}:{port}"
    if not public_url.startswith(("http://", "https://")):
        raise ConfigError("CONSENT_PUBLIC_URL must start with http:// or https://")

    smtp_url = env.get("CONSENT_SMTP_URL", "").strip()
    smtp = parse_smtp_url(smtp_url, env.get("CONSENT_SMTP_FROM", "")) if smtp_url else None

    pool_min = _env_int(env, "CONSENT_POOL_MIN", 2, low=1, high=100)
    pool_max = _env_int(env, "CONSENT_POOL_MAX", 10, low=1, high=500)
    if pool_max < pool_min:
        raise ConfigError("CONSENT_POOL_MAX must be at least CONSENT_POOL_MIN")

    console_url = env.get("CONSENT_CONSOLE_URL", "").strip().rstrip("/")
    if console_url and not console_url.startswith(("http://", "https://")):
        raise ConfigError("CONSENT_CONSOLE_URL must start with http:// or https://")
    console_key = env.get("CONSENT_CONSOLE_SESSION_KEY", "")
    console_session_key = Secret(_decode_secret("CONSENT_CONSOLE_SESSION_KEY", console_key)) if console_key else None

    return Settings(
        host=host,
        port=port,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        database_url=database_url,
        database_read_url=database_read_url,
        read_max_wait_ms=_env_float(env, "CONSENT_READ_MAX_WAIT_MS", 50.0, low=0.0, high=10_000.0),
        data_dir=data_dir,
        pepper=Secret(pepper),
        token_keys=token_keys,
        encryption_keys=encryption_keys,
        public_url=public_url,
        public_url_configured=bool(env.get("CONSENT_PUBLIC_URL", "").strip()),
        log_format=log_format,
        log_level=log_level,
        webhook_allow_private=_env_bool(env, "CONSENT_WEBHOOK_ALLOW_PRIVATE", False),
        migrate_on_start=_env_bool(env, "CONSENT_MIGRATE_ON_START", True),
        pool_min=pool_min,
        pool_max=pool_max,
        default_phone_region=(env.get("CONSENT_PHONE_REGION", "SE").strip().upper() or "SE"),
        processes=_env_int(env, "CONSENT_PROCESSES", 1, low=1, high=64),
        max_header_bytes=_env_int(env, "CONSENT_MAX_HEADER_BYTES", 16_384, low=1024, high=1_048_576),
        max_body_bytes=_env_int(env, "CONSENT_MAX_BODY_BYTES", 1_048_576, low=1024, high=1 << 30),
        max_batch_body_bytes=_env_int(env, "CONSENT_MAX_BATCH_BODY_BYTES", 64 * 1_048_576, low=1024, high=1 << 31),
        auth_cache_seconds=_env_float(env, "CONSENT_AUTH_CACHE_SECONDS", 5.0, low=0.0, high=300.0),
        webhook_worker=_env_bool(env, "CONSENT_WEBHOOK_WORKER", True),
        rate_limit_per_key=_env_float(env, "CONSENT_RATE_LIMIT_PER_KEY", 5000.0, low=0.0, high=1_000_000.0),
        ledger_seal_seconds=_env_float(env, "CONSENT_LEDGER_SEAL_SECONDS", 1.0, low=0.0, high=3600.0),
        sweep_interval_seconds=_env_float(env, "CONSENT_SWEEP_INTERVAL_SECONDS", 86_400.0, low=0.0, high=30 * 86_400.0),
        webhook_poll_seconds=_env_float(env, "CONSENT_WEBHOOK_POLL_SECONDS", 0.5, low=0.01, high=60.0),
        webhook_timeout_seconds=_env_float(env, "CONSENT_WEBHOOK_TIMEOUT_SECONDS", 10.0, low=0.1, high=120.0),
        webhook_retry_base_seconds=_env_float(env, "CONSENT_WEBHOOK_RETRY_BASE_SECONDS", 5.0, low=0.01, high=3600.0),
        webhook_retry_window_seconds=_env_float(
            env, "CONSENT_WEBHOOK_RETRY_WINDOW_SECONDS", 86_400.0, low=1.0, high=30 * 86_400.0
        ),
        smtp=smtp,
        confirm_ttl_hours=_env_int(env, "CONSENT_CONFIRM_TTL_HOURS", 72, low=1, high=720),
        console_url=console_url,
        console_session_key=console_session_key,
        console_idle_minutes=_env_int(env, "CONSENT_CONSOLE_IDLE_MINUTES", 30, low=1, high=24 * 60),
        banner_receipt_retention_days=_env_int(env, "CONSENT_BANNER_RECEIPT_RETENTION_DAYS", 365, low=0, high=3650),
    )
