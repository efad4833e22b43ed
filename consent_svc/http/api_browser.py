"""The API browser at ``/schema``: Swagger UI served from the service's own copy.

The viewer's files are vendored from npm's ``swagger-ui-dist`` at a pinned
version into ``consent_svc/web/swagger_ui`` (``fetch.sh`` there says how; the
wheel carries them) and served under ``/schema/assets/``, with the page's
start-up in ``consent_svc/web/schema.js``. So the page loads nothing from a CDN,
works offline and runs under ``API_BROWSER_CSP`` (no inline script, nothing but
its own origin). Why Swagger UI and why vendored: docs/adr/0009-api-browser-assets.md.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, get
from litestar.datastructures import ResponseHeader
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin

WEB = Path(__file__).resolve().parents[1] / "web"
VENDORED = WEB / "swagger_ui"

# Everything the page loads from its own origin; images may also be data: URIs (the
# stylesheet draws its icons with them). No inline script, no eval, no other origin.
API_BROWSER_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# name under /schema/assets/ -> (file, content type; litestar adds "; charset=utf-8" to text types)
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (VENDORED / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (VENDORED / "swagger-ui.css", "text/css"),
    "favicon.png": (VENDORED / "favicon-32x32.png", "image/png"),
    "schema.js": (WEB / "schema.js", "text/javascript"),
}


def swagger_ui_version() -> str:
    """The vendored swagger-ui-dist version (``consent_svc/web/swagger_ui/VERSION``)."""
    return (VENDORED / "VERSION").read_text(encoding="ascii").strip()


@cache
def _asset(name: str) -> bytes:
    return ASSETS[name][0].read_bytes()


@get("/assets/{name:str}", include_in_schema=False, sync_to_thread=False)
def api_browser_asset(name: str) -> Response[bytes]:
    """One of the viewer's files, by its name in ``ASSETS``; any other name is a 404."""
    if name not in ASSETS:
        raise NotFoundException(f"no asset {name!r} under /schema/assets/")
    return Response(
        _asset(name),
        media_type=ASSETS[name][1],
        headers={"Cache-Control": "public, max-age=3600"},
    )


class LocalSwaggerRenderPlugin(OpenAPIRenderPlugin):
    """The page at ``/schema``: Swagger UI from ``/schema/assets/``, started by ``schema.js``."""

    def __init__(self, *, path: str = "/") -> None:
        super().__init__(path=path, favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        openapi_url = self.get_openapi_json_route(request)
        assets = openapi_url.rsplit("/", 1)[0] + "/assets"
        title = html.escape(str(openapi_schema["info"]["title"]))
        version = html.escape(swagger_ui_version())
        page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} API</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<meta name="generator" content="swagger-ui-dist {version}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{html.escape(openapi_url)}">
<noscript>The API browser needs JavaScript; the document itself is at
<a href="{html.escape(openapi_url)}">{html.escape(openapi_url)}</a>.</noscript>
</div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/schema.js"></script>
</body>
</html>
"""
        return page.encode()

    def receive_router(self, router: Router) -> None:
        router.register(api_browser_asset)


def api_browser_router(path: str = "/schema") -> Router:
    """The router litestar fills with the schema routes: every answer under it carries the CSP."""
    return Router(
        path,
        route_handlers=[],
        include_in_schema=False,
        response_headers=[ResponseHeader(name="Content-Security-Policy", value=API_BROWSER_CSP)],
    )
