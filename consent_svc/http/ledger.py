"""The ledger's tamper evidence over HTTP (admin)."""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Controller, get

from consent_svc.http.deps import Ctx, TenantId
from consent_svc.service import ledger


class ChainBreakOut(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str | None
    position: int
    expected: str
    found: str


class LedgerVerificationOut(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    events: int
    head: str
    unsealed: int
    first_break: ChainBreakOut | None

    @classmethod
    def from_domain(cls, result: ledger.Verification) -> LedgerVerificationOut:
        brk = None if result.first_break is None else ChainBreakOut(**result.first_break)
        return cls(ok=result.ok, events=result.events, head=result.head, unsealed=result.unsealed, first_break=brk)


class LedgerHeadOut(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    head: str
    sealed_at: datetime | None
    unsealed: int

    @classmethod
    def from_domain(cls, head: ledger.Head) -> LedgerHeadOut:
        return cls(position=head.position, head=head.hash, sealed_at=head.sealed_at, unsealed=head.unsealed)


class LedgerController(Controller):
    path = "/v1/ledger"
    tags = ["ledger"]
    opt = {"scope": "admin"}

    @get("/verify", summary="Verify the ledger's hash chain")
    async def verify_ledger(self, ctx: Ctx, tenant_id: TenantId) -> LedgerVerificationOut:
        """Walk the tenant's chain; the first position that does not match, if any."""
        return LedgerVerificationOut.from_domain(await ledger.verify(ctx, tenant_id))

    @get("/head", summary="Read the ledger's head hash")
    async def ledger_head(self, ctx: Ctx, tenant_id: TenantId) -> LedgerHeadOut:
        """The current head hash and position, to publish or timestamp elsewhere."""
        return LedgerHeadOut.from_domain(await ledger.head(ctx, tenant_id))
