"""Purposes: create or replace (admin), read and list (check), and every version a purpose had."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, put
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from consent_svc.domain.models import Channel, LegalBasis, PurposeConfig
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from consent_svc.service import purposes
from consent_svc.service.inputs import PURPOSE_KEY, PurposeIn

# litestar checks a path parameter against Parameter(pattern=...), not against a Meta in its type.
KeyInPath = Annotated[str, Parameter(pattern=PURPOSE_KEY, description="purpose key")]


class PurposeOut(msgspec.Struct, frozen=True, kw_only=True):
    """A purpose's configuration (decision-rules.md, "Vocabulary"), with the notice versions it published."""

    key: str
    version: int
    legal_basis: LegalBasis
    direct_marketing: bool
    channels: list[Channel]
    notice_version: str
    title: dict[str, str]
    description: dict[str, str]
    consent_ttl_days: int | None
    reconsent_required_before: datetime | None
    soft_opt_in: bool
    double_opt_in: bool
    customer_after_end_days: int
    event_days: int
    lead_inactivity_days: int
    retention_days: int
    notice_versions: list[str]
    notice_deadlines: dict[str, datetime]
    # null: the channel's default registers (phone: nix-telefon; post: nix-adresserat, spar-reklamsparr).
    registers: list[str] | None

    @classmethod
    def from_domain(cls, config: PurposeConfig) -> PurposeOut:
        return cls(**{f: getattr(config, f) for f in cls.__struct_fields__})


class PurposeList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[PurposeOut]
    next_cursor: str | None


class PurposeVersionOut(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    created_at: datetime
    config: PurposeOut

    @classmethod
    def from_domain(cls, found: purposes.Version) -> PurposeVersionOut:
        return cls(
            version=found.config.version, created_at=found.created_at, config=PurposeOut.from_domain(found.config)
        )


class PurposeVersionList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[PurposeVersionOut]
    next_cursor: str | None


class PurposeController(Controller):
    path = "/v1/purposes"
    tags = ["purposes"]

    @put("/{key:str}", opt={"scope": "admin"}, status_code=HTTP_200_OK, summary="Create or replace a purpose")
    async def put_purpose(self, ctx: Ctx, tenant_id: TenantId, key: KeyInPath, data: PurposeIn) -> Response[PurposeOut]:
        """Every change is kept as a new version; 201 when the purpose is new, 200 when it changed or
        was already so. A material change needs a new notice_version with reconsent_required_before."""
        config, created = await purposes.put(ctx, tenant_id, key, data)
        return Response(PurposeOut.from_domain(config), status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/", opt={"scope": "check"}, summary="List the purposes")
    async def list_purposes(
        self, ctx: Ctx, tenant_id: TenantId, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> PurposeList:
        """In key order."""
        page = await purposes.list_page(ctx, tenant_id, decode_cursor(cursor, str), limit)
        return PurposeList(items=[PurposeOut.from_domain(p) for p in page.items], next_cursor=encode_cursor(page.after))

    @get("/{key:str}", opt={"scope": "check"}, summary="Read a purpose")
    async def get_purpose(self, ctx: Ctx, tenant_id: TenantId, key: str) -> PurposeOut:
        return PurposeOut.from_domain(await purposes.get(ctx, tenant_id, key))

    @get("/{key:str}/versions", opt={"scope": "check"}, summary="List every version of a purpose")
    async def purpose_versions(
        self, ctx: Ctx, tenant_id: TenantId, key: str, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> PurposeVersionList:
        """Oldest first: what the purpose said on any day (a consent names the notice version it saw)."""
        page = await purposes.versions(ctx, tenant_id, key, decode_cursor(cursor, int) or 0, limit)
        return PurposeVersionList(
            items=[PurposeVersionOut.from_domain(v) for v in page.items], next_cursor=encode_cursor(page.after)
        )
