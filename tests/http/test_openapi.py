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
    for path in (
        "/v1/purposes/{key}",
        "/v1/events",
        "/v1/events/batch",
        "/v1/decisions",
        "/v1/decisions/batch",
        "/v1/suppressions",
        "/v1/suppressions/export",
        "/v1/suppressions/{entry_id}",
    ):
        assert path in paths, path
    batch = paths["/v1/decisions/batch"]["post"]["requestBody"]["content"]
    assert set(batch) == {"application/json", "application/x-ndjson"}


def _operations(doc: dict) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    return [
        (method.upper(), path, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_every_operation_has_a_typed_answer_and_a_sentence_for_a_summary() -> None:
    import json
    import re

    doc = json.loads(render_openapi())
    untyped, bad_summaries = [], []
    for method, path, op in _operations(doc):
        summary = op.get("summary", "")
        # "Decide one recipient", not "DecideBatch" or "decide_batch".
        if not re.fullmatch(r"[A-Z][a-z]+( [^ ]+)+", summary) or "_" in summary.split()[0]:
            bad_summaries.append(f"{method} {path}: {summary!r}")
        answers = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        assert answers, f"{method} {path} documents no 2xx answer"
        for code, answer in answers.items():
            if code == "204":
                continue
            for media, content in (answer.get("content") or {"-": {}}).items():
                schema = content.get("schema") or {}
                if media.startswith("text/") or media == "application/javascript":
                    continue  # pages and the banner script are what they say
                if "$ref" not in schema:
                    untyped.append(f"{method} {path} {code} {media}: {schema}")
    assert untyped == []
    assert bad_summaries == []


def test_every_listing_has_the_one_list_shape() -> None:
    """{"items": [...], "next_cursor": "..." | null}, with ?cursor= and ?limit= (batches keep "results")."""
    import json

    doc = json.loads(render_openapi())
    schemas = doc["components"]["schemas"]
    listings = []
    for method, path, op in _operations(doc):
        ref = op["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        name = ref.get("$ref", "").rsplit("/", 1)[-1]
        props = schemas.get(name, {}).get("properties", {})
        assert ref.get("type") != "array", f"{method} {path} answers a bare array"
        if method == "GET" and ("items" in props or name.endswith("List")):
            listings.append(path)
            assert set(props) >= {"items", "next_cursor"}, f"{path}: {sorted(props)}"
            params = {p["name"] for p in op.get("parameters", [])}
            assert {"cursor", "limit"} <= params, f"{path}: {sorted(params)}"
    assert sorted(listings) == [
        "/v1/erasures",
        "/v1/forms",
        "/v1/integrations",
        "/v1/integrations/{integration_id}/deliveries",
        "/v1/integrations/{integration_id}/feedback",
        "/v1/purposes",
        "/v1/purposes/{key}/reconsent",
        "/v1/purposes/{key}/versions",
        "/v1/registers",
        "/v1/retention/runs",
        "/v1/sites",
        "/v1/sites/{site_key}/stats",
        "/v1/subjects",
        "/v1/subjects/{subject_id}/events",
        "/v1/suppressions",
        "/v1/suppressions/export",
        "/v1/tenants",
        "/v1/tenants/{tenant}/keys",
        "/v1/webhooks",
        "/v1/webhooks/{webhook_id}/deliveries",
    ]
