"""Settings: read once from CONSENT_*, clear errors, secrets generated once and kept private."""

from __future__ import annotations

from pathlib import Path

import pytest

from consent_svc.config import ConfigError, load_settings


def test_defaults_generate_secrets_once(tmp_path: Path) -> None:
    env = {"CONSENT_DATA_DIR": str(tmp_path)}
    first = load_settings(env)
    again = load_settings(env)
    assert first.pepper == again.pepper
    assert first.token_keys == again.token_keys
    assert (first.host, first.port, first.database_url) == ("127.0.0.1", 8000, None)
    for name in ("pepper", "token-key"):
        assert (tmp_path / "secrets" / name).stat().st_mode & 0o777 == 0o600
    assert "pepper=" not in repr(first)
    assert repr(first.pepper) == "Secret(***)"
    assert (tmp_path / "secrets" / "pepper").read_text().strip() not in repr(first)


def test_external_database_needs_explicit_secrets(tmp_path: Path) -> None:
    env = {"CONSENT_DATA_DIR": str(tmp_path), "CONSENT_DATABASE_URL": "postgresql://db/x"}
    with pytest.raises(ConfigError, match="CONSENT_PEPPER is required"):
        load_settings(env)
    env |= {"CONSENT_PEPPER": "a" * 40, "CONSENT_TOKEN_KEYS": "b" * 40 + "," + "c" * 40}
    settings = load_settings(env)
    assert len(settings.token_keys) == 2
    assert "postgresql://" not in repr(settings)  # a URL may carry a password
    assert not (tmp_path / "secrets").exists()


def test_read_replica_url_needs_the_primary(tmp_path: Path) -> None:
    env = {"CONSENT_DATA_DIR": str(tmp_path), "CONSENT_DATABASE_READ_URL": "postgresql://replica:secret@r/x"}
    with pytest.raises(ConfigError, match="CONSENT_DATABASE_READ_URL needs CONSENT_DATABASE_URL"):
        load_settings(env)
    env |= {
        "CONSENT_DATABASE_URL": "postgresql://p/x",
        "CONSENT_PEPPER": "a" * 40,
        "CONSENT_TOKEN_KEYS": "b" * 40,
        "CONSENT_READ_MAX_WAIT_MS": "20",
    }
    settings = load_settings(env)
    assert (settings.database_read_url, settings.read_max_wait_ms) == ("postgresql://replica:secret@r/x", 20.0)
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CONSENT_PORT", "http", "CONSENT_PORT"),
        ("CONSENT_PORT", "70000", "between"),
        ("CONSENT_LOG_FORMAT", "xml", "CONSENT_LOG_FORMAT"),
        ("CONSENT_WEBHOOK_ALLOW_PRIVATE", "maybe", "CONSENT_WEBHOOK_ALLOW_PRIVATE"),
        ("CONSENT_PEPPER", "short", "at least 32"),
        ("CONSENT_PUBLIC_URL", "ftp://x", "http"),
        ("CONSENT_READ_MAX_WAIT_MS", "-1", "CONSENT_READ_MAX_WAIT_MS"),
        ("CONSENT_SMTP_URL", "http://mail.example.se", "smtp:// or smtps://"),
        ("CONSENT_SMTP_URL", "smtp://mail.example.se", "CONSENT_SMTP_FROM"),
        ("CONSENT_SMTP_URL", "smtp://", "needs a host"),
        ("CONSENT_CONFIRM_TTL_HOURS", "0", "CONSENT_CONFIRM_TTL_HOURS"),
        ("CONSENT_CONFIRM_TTL_HOURS", "721", "between"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"CONSENT_DATA_DIR": str(tmp_path), name: value})


def test_metrics_listen_on_loopback_apart_from_the_public_port(tmp_path: Path) -> None:
    base = {"CONSENT_DATA_DIR": str(tmp_path)}
    default = load_settings(base)
    assert (default.metrics_host, default.metrics_port) == ("127.0.0.1", 9464)
    assert load_settings(base | {"CONSENT_METRICS_PORT": "0"}).metrics_port == 0  # no listener
    moved = load_settings(base | {"CONSENT_METRICS_HOST": "10.0.0.5", "CONSENT_METRICS_PORT": "9100"})
    assert (moved.metrics_host, moved.metrics_port) == ("10.0.0.5", 9100)
    with pytest.raises(ConfigError, match="CONSENT_METRICS_PORT must differ from CONSENT_PORT"):
        load_settings(base | {"CONSENT_METRICS_PORT": "8000"})
    with pytest.raises(ConfigError, match="CONSENT_METRICS_PORT must be between 0 and 65535"):
        load_settings(base | {"CONSENT_METRICS_PORT": "70000"})


def test_smtp_url_credentials_stay_out_of_reprs_and_tls_is_required_off_loopback(tmp_path: Path) -> None:
    base = {"CONSENT_DATA_DIR": str(tmp_path), "CONSENT_SMTP_FROM": "Exempel <news@example.se>"}
    settings = load_settings(base | {"CONSENT_SMTP_URL": "smtp://mailer:s%40cret@Mail.Example.se"})
    smtp = settings.smtp
    assert smtp is not None
    assert (smtp.host, smtp.port, smtp.implicit_tls, smtp.require_starttls) == ("mail.example.se", 587, False, True)
    assert smtp.username == "mailer"
    assert smtp.password is not None
    assert smtp.password.reveal() == b"s@cret"
    assert "s@cret" not in repr(settings)
    assert "cret" not in repr(smtp)
    assert settings.confirm_ttl_hours == 72
    implicit = load_settings(base | {"CONSENT_SMTP_URL": "smtps://mail.example.se"}).smtp
    assert implicit is not None
    assert (implicit.port, implicit.implicit_tls) == (465, True)
    local = load_settings(base | {"CONSENT_SMTP_URL": "smtp://127.0.0.1:2525"}).smtp
    assert local is not None
    assert (local.port, local.require_starttls) == (2525, False)
    assert load_settings({"CONSENT_DATA_DIR": str(tmp_path)}).smtp is None
