"""Fixtures of the end-to-end tests: a working folder that leaves no PostgreSQL behind, and a
``serve`` process on the suite's database."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import TEST_PEPPER, TEST_TOKEN_KEY
from tests.e2e.server import Server, clean_env


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # These tests kill servers and replicas under open connections on purpose; a socket the
    # killed peer left half-open is then collected unclosed. Shown in the report, not failed.
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.filterwarnings("default::ResourceWarning"))
            item.add_marker(pytest.mark.filterwarnings("default::pytest.PytestUnraisableExceptionWarning"))


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    # Never leave a PostgreSQL behind, even when a test failed half-way.
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(tmp_path) in " ".join(proc.info["cmdline"] or []):
            proc.kill()
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture
def external_server(database: str, workdir: Path) -> Iterator[Server]:
    env = clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="warning",
    )
    server = Server(env, workdir)
    yield server
    server.stop()
