"""The direction of imports (docs/architecture.md): domain <- store <- service <- http, cli.

The pure domain imports no other layer (and no asyncpg, litestar or httpx); the
store knows nothing of services or HTTP; services know nothing of HTTP or the
CLI; HTTP talks to services, never to the store. Read from the source, so a
lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "consent_svc"

# layer -> packages it may not import
FORBIDDEN = {
    "domain": (
        "consent_svc.store",
        "consent_svc.service",
        "consent_svc.http",
        "consent_svc.cli",
        "consent_svc.jobs",
        "asyncpg",
        "litestar",
        "httpx",
        "uvicorn",
    ),
    "store": ("consent_svc.service", "consent_svc.http", "consent_svc.cli", "consent_svc.jobs", "litestar"),
    "service": ("consent_svc.http", "consent_svc.cli", "litestar"),
    "jobs": ("consent_svc.http", "consent_svc.cli", "litestar"),
    "http": ("consent_svc.store", "consent_svc.cli"),
    # Provider protocols: pure but for an injected HTTP client (the service and the edge wire them in).
    "integrations": (
        "consent_svc.store",
        "consent_svc.service",
        "consent_svc.http",
        "consent_svc.cli",
        "consent_svc.jobs",
        "asyncpg",
        "litestar",
    ),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_go_one_way(layer: str) -> None:
    wrong = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer]):
                wrong.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert wrong == []


def test_the_check_sees_imports() -> None:
    """The walk finds lazy imports inside functions too (or the test above could pass for the wrong reason)."""
    assert "consent_svc.runtime" in _imports(PACKAGE / "cli" / "common.py")
