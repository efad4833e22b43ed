"""The README's "From your send pipeline" examples run word for word against a live server (only
the address changes, as in the tour's test), and both clients install from the repository the way
the README says: ``pip install ./clients/python`` and ``npm install ./clients/typescript``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.clients import npm
from tests.conftest import NEWSLETTER, Tenant
from tests.e2e.server import REPO, Server

pytestmark = pytest.mark.e2e
README_URL = "http://127.0.0.1:8000"
EXPECTED = ["anna@example.se send", "bo@example.se skip: no_consent", "not-an-address skip: invalid_identifier"]


def example(language: str, fence: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split(f"<!-- client-{language}:start -->", 1)[1].split(f"<!-- client-{language}:end -->", 1)[0]
    code = block.split(f"```{fence}\n", 1)[1].rsplit("```", 1)[0]
    assert README_URL in code
    assert len(code.strip().splitlines()) <= 10, f"the {language} example is meant to fit in ten lines"
    return code


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> list[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout.splitlines()


def test_readme_examples_run_against_serve(external_server: Server, tenant: Tenant, workdir: Path) -> None:
    httpx.put(
        f"{external_server.url}/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth()
    ).raise_for_status()
    env = {**os.environ, "KEY": tenant.keys["admin"]}

    python = workdir / "send.py"
    python.write_text(example("python", "python").replace(README_URL, external_server.url), encoding="utf-8")
    assert _run([sys.executable, str(python)], workdir, env) == EXPECTED
    # Again: the consent's idempotency key makes the second run record nothing new.
    assert _run([sys.executable, str(python)], workdir, env) == EXPECTED

    npm.installed()
    project = workdir / "pipeline"
    project.mkdir()
    (project / "package.json").write_text('{"name": "pipeline", "private": true, "type": "module"}\n')
    _run(["npm", "install", "--no-audit", "--no-fund", str(npm.TS)], project, env)
    script = project / "send.mjs"
    script.write_text(example("typescript", "js").replace(README_URL, external_server.url), encoding="utf-8")
    assert _run(["node", str(script)], project, env) == EXPECTED


def test_the_python_client_installs_from_the_repository(tmp_path: Path) -> None:
    """A real (non-editable) install of ./clients/python: the wheel carries the package and its
    py.typed, and what it installed imports (its dependencies, httpx and msgspec, from here)."""
    target = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO / "clients" / "python")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (target / "consent_svc_client" / "py.typed").exists()
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = "import consent_svc_client as c; print(c.__file__); print(c.ConsentClient.__name__)"
    lines = _run([sys.executable, "-c", probe], tmp_path, env)
    assert lines[0].startswith(str(target))
    assert lines[1] == "ConsentClient"
