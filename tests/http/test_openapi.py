"""The committed OpenAPI document is the one the code serves."""

from __future__ import annotations

from consent_svc.cli.database import OPENAPI_PATH, render_openapi


def test_committed_openapi_matches_the_code() -> None:
    assert OPENAPI_PATH.read_text(encoding="utf-8") == render_openapi(), (
        "openapi/openapi.json is out of date: run `./dev openapi` and commit it"
    )


def test_openapi_documents_the_contract() -> None:
    import json

    doc = json.loads(render_openapi())
    paths = doc["paths"]
    for path in ("/v1/purposes/{key}", "/v1/events", "/v1/events/batch", "/v1/decisions", "/v1/decisions/batch",
                 "/v1/suppressions", "/v1/suppressions/export", "/v1/suppressions/{entry_id}"):  # fmt: skip
        assert path in paths, path
    batch = paths["/v1/decisions/batch"]["post"]["requestBody"]["content"]
    assert set(batch) == {"application/json", "application/x-ndjson"}
