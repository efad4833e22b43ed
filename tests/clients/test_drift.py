"""The clients against the committed OpenAPI document: a change to the API that a client does not
follow fails here (as tests/http/test_openapi.py fails when the document and the server drift).

- Python (clients/python): the hand-written msgspec models, field by field (names, which are
  required, JSON types, enum values, nested models), and every operation and query parameter the
  client sends (docs/adr/0010-client-libraries.md).
- TypeScript (clients/typescript): src/schema.ts regenerated with the pinned openapi-typescript
  must equal the committed one, and dist/ rebuilt with the pinned tsc must equal the committed
  dist/ (the package ships dist/ so that ``npm install ./clients/typescript`` needs no build).
"""

from __future__ import annotations

import filecmp
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from consent_svc_client import _core
from consent_svc_client.models import SCHEMAS

from tests.clients import npm

REPO = Path(__file__).resolve().parents[2]
DOC: dict[str, Any] = json.loads((REPO / "openapi" / "openapi.json").read_text(encoding="utf-8"))


def _pointer(target: str) -> dict[str, Any]:
    if not target.startswith("#/"):
        return dict(DOC["components"]["schemas"][target])
    node: Any = DOC
    for part in target[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return dict(node)


def _shape(schema: dict[str, Any], names: dict[str, str]) -> frozenset[Any]:
    """A schema as a set of JSON shapes: types, enum values, referenced models, array items.
    Constraints (lengths, patterns, formats) are the server's to check and are left out."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return frozenset({("ref", names.get(name, name))})
    out: set[Any] = set()
    for key in ("anyOf", "oneOf"):
        for member in schema.get(key, []):
            out |= _shape(member, names)
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if "enum" in schema:
        values = schema["enum"]
        out.add(("enum", frozenset(v for v in values if v is not None)))
        if None in values or "null" in types:
            out.add("null")
        return frozenset(out)
    for t in types:
        if t == "array":
            out.add(("array", _shape(schema.get("items", {}), names)))
        else:
            out.add(t)
    return frozenset(out)


def test_python_models_match_the_document() -> None:
    names = {cls.__name__: target for cls, target in SCHEMAS.items()}
    _, components = msgspec.json.schema_components(list(SCHEMAS), ref_template="#/components/schemas/{name}")
    drift: list[str] = []
    for cls, target in SCHEMAS.items():
        server, client = _pointer(target), components[cls.__name__]
        where = f"{cls.__name__} ({target})"
        server_props, client_props = server.get("properties", {}), client.get("properties", {})
        for name in sorted(set(server_props) - set(client_props)):
            drift.append(f"{where}: the document has {name!r}, the client does not")
        for name in sorted(set(client_props) - set(server_props)):
            drift.append(f"{where}: the client has {name!r}, the document does not")
        server_required, client_required = set(server.get("required", [])), set(client.get("required", []))
        if server_required != client_required:
            drift.append(f"{where}: required {sorted(server_required)} in the document, {sorted(client_required)} here")
        for name in sorted(set(server_props) & set(client_props)):
            theirs, ours = _shape(server_props[name], {}), _shape(client_props[name], names)
            if name not in server_required and "null" not in theirs:
                ours -= {"null"}  # an optional field the client leaves out when it is None
            if theirs != ours:
                drift.append(
                    f"{where}.{name}: {sorted(map(str, theirs))} in the document, {sorted(map(str, ours))} here"
                )
    assert not drift, "\n".join(drift)


def test_python_operations_exist_with_their_parameters() -> None:
    for method, path, params in _core.OPERATIONS:
        operation = DOC["paths"].get(path, {}).get(method)
        assert operation is not None, f"{method.upper()} {path} is not in the document"
        known = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert set(params) <= known, f"{method.upper()} {path}: {sorted(set(params) - known)} not in the document"


def test_the_drift_check_sees_a_change() -> None:
    """The comparison is not blind: a field the document lost, or a type it changed, shows."""
    before = json.dumps(DOC)
    try:
        del DOC["components"]["schemas"]["EventOut"]["properties"]["recorded_at"]
        with pytest.raises(AssertionError, match=r"EventOut.*recorded_at"):
            test_python_models_match_the_document()
    finally:
        DOC.clear()
        DOC.update(json.loads(before))
    DOC["components"]["schemas"]["ActiveOut"]["properties"]["reasons"] = {"type": "string"}
    try:
        with pytest.raises(AssertionError, match=r"ActiveEntry.*reasons"):
            test_python_models_match_the_document()
    finally:
        DOC.clear()
        DOC.update(json.loads(before))


@pytest.fixture(scope="session")
def typescript_package() -> Path:
    return npm.installed()


def test_typescript_types_match_the_document(typescript_package: Path, tmp_path: Path) -> None:
    out = tmp_path / "schema.ts"
    npm.run("npm", ["exec", "--", "openapi-typescript", str(REPO / "openapi" / "openapi.json"), "-o", str(out)])
    committed = (typescript_package / "src" / "schema.ts").read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == committed, (
        "clients/typescript/src/schema.ts is not what openapi-typescript makes of openapi/openapi.json: "
        "run `npm run generate && npm run build` in clients/typescript and commit the result"
    )


def test_typescript_dist_is_built_from_src(typescript_package: Path, tmp_path: Path) -> None:
    npm.run("npm", ["exec", "--", "tsc", "-p", ".", "--outDir", str(tmp_path / "dist")])
    compared = filecmp.dircmp(tmp_path / "dist", typescript_package / "dist")
    differences = [*compared.left_only, *compared.right_only, *compared.diff_files]
    assert not differences, (
        f"clients/typescript/dist differs from a build of src ({differences}): "
        "run `npm run build` in clients/typescript and commit dist/"
    )
