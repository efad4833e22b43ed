"""/schema: the API browser and its files come from the service itself, under a strict CSP."""

from __future__ import annotations

import hashlib
import re

import httpx

from consent_svc.http.api_browser import API_BROWSER_CSP, VENDORED, swagger_ui_version


async def test_the_page_loads_only_its_own_files_and_no_inline_script(client: httpx.AsyncClient) -> None:
    for path in ("/schema", "/schema/"):
        page = await client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["content-security-policy"] == API_BROWSER_CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        # No other origin anywhere in the page (the viewer used to come from a CDN).
        assert "http://" not in page.text
        assert "https://" not in page.text
        assert "//cdn" not in page.text
        # Every script is a file of its own: nothing inline for the CSP to refuse.
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
        assert [src for src, _ in scripts] == [
            ' src="/schema/assets/swagger-ui-bundle.js"',
            ' src="/schema/assets/schema.js"',
        ]
        assert all(body.strip() == "" for _, body in scripts)
        assert 'data-openapi-url="/schema/openapi.json"' in page.text
        assert f"swagger-ui-dist {swagger_ui_version()}" in page.text
    # The policy itself: only this origin, no inline script, no eval, no framing.
    directives = dict(d.strip().split(" ", 1) for d in API_BROWSER_CSP.split(";"))
    assert directives["default-src"] == "'self'"
    assert "unsafe" not in API_BROWSER_CSP
    assert "script-src" not in directives  # so default-src 'self' governs scripts
    assert directives["frame-ancestors"] == "'none'"


async def test_the_assets_are_served_with_their_types(client: httpx.AsyncClient) -> None:
    expected = {
        "/schema/assets/swagger-ui-bundle.js": ("text/javascript; charset=utf-8", VENDORED / "swagger-ui-bundle.js"),
        "/schema/assets/swagger-ui.css": ("text/css; charset=utf-8", VENDORED / "swagger-ui.css"),
        "/schema/assets/favicon.png": ("image/png", VENDORED / "favicon-32x32.png"),
        "/schema/assets/schema.js": ("text/javascript; charset=utf-8", VENDORED.parent / "schema.js"),
    }
    for path, (content_type, file) in expected.items():
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == content_type, path
        assert response.headers["content-security-policy"] == API_BROWSER_CSP, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["cache-control"] == "public, max-age=3600", path
        assert response.content == file.read_bytes(), path
    document = await client.get("/schema/openapi.json")
    assert document.status_code == 200
    assert "/v1/decisions" in document.json()["paths"]
    # Only the listed files: no other name, no way out of the folder.
    for path in ("/schema/assets/pages.py", "/schema/assets/LICENSE", "/schema/assets/..%2F__init__.py"):
        assert (await client.get(path)).status_code == 404, path


def test_the_vendored_files_are_the_pinned_release() -> None:
    """The files are swagger-ui-dist as fetch.sh vendored it, unedited (SHA256SUMS), with its licence."""
    sums = (VENDORED / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == 7
    for line in sums:
        digest, name = line.split()
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == digest, name
    assert swagger_ui_version() in (VENDORED / "fetch.sh").read_text()
    assert "Apache License" in (VENDORED / "LICENSE").read_text()
    assert re.fullmatch(r"\d+\.\d+\.\d+", swagger_ui_version())
