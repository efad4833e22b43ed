"""The ledger's tamper evidence over HTTP (admin)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get

from consent_svc.http.auth import ctx_of, principal_of
from consent_svc.service import ledger

AnyRequest = Request[Any, Any, Any]


class LedgerController(Controller):
    path = "/v1/ledger"
    tags = ["ledger"]

    @get("/verify", opt={"scope": "admin"})
    async def verify_ledger(self, request: AnyRequest) -> dict[str, Any]:
        """Walk the tenant's hash chain; the first position that does not match, if any."""
        result = await ledger.verify(ctx_of(request), principal_of(request).tenant_id)
        return {"ok": result.ok, "events": result.events, "head": result.head, "unsealed": result.unsealed,
                "first_break": result.first_break}  # fmt: skip

    @get("/head", opt={"scope": "admin"})
    async def ledger_head(self, request: AnyRequest) -> dict[str, Any]:
        """The current head hash and position, to publish or timestamp elsewhere."""
        return await ledger.head(ctx_of(request), principal_of(request).tenant_id)
