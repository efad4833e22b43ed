"""Running npm and node for the TypeScript client (clients/typescript) from the Python suite."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TS = REPO / "clients" / "typescript"


def run(tool: str, args: list[str], *, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run npm or node in clients/typescript; fail the test with its whole output when it fails."""
    binary = shutil.which(tool)
    if binary is None:
        pytest.fail(f"{tool} is needed for the TypeScript client's tests (Node.js 18 or newer)")
    done = subprocess.run([binary, *args], cwd=TS, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{tool} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def installed() -> Path:
    """clients/typescript with its pinned dev dependencies (npm ci, from package-lock.json), again
    whenever the lock is newer than the install."""
    marker = TS / "node_modules" / ".package-lock.json"
    if not marker.exists() or (TS / "package-lock.json").stat().st_mtime > marker.stat().st_mtime:
        run("npm", ["ci", "--no-audit", "--no-fund"])
    return TS
