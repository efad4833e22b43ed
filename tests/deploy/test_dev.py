"""``./dev``: its help reaches the service's commands."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("asked", ["help", "--help", "-h"])
def test_dev_help_lists_its_own_and_the_service_commands(asked: str) -> None:
    done = subprocess.run(
        ["/bin/bash", str(ROOT / "dev"), asked], capture_output=True, text=True, timeout=60, check=True
    )
    assert "./dev test [pytest args]" in done.stdout
    assert "set -euo" not in done.stdout  # the text, not the script
    for command in ("serve", "tenants", "keys", "subjects", "sweep"):
        assert f"\n    {command} " in done.stdout, command  # consent-svc --help's command list
