"""Tenant branding (admin): how the tenant appears on the preference page and in List-Unsubscribe."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, patch, put
from litestar.status_codes import HTTP_200_OK

from consent_svc.domain.records import BrandingRow
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.service import tenants
from consent_svc.service.inputs import BrandingIn, BrandingPatch


class BrandingOut(msgspec.Struct, frozen=True, kw_only=True):
    display_name: str | None
    logo_url: str | None
    primary_color: str | None
    privacy_policy_url: str | None
    unsubscribe_mailto: str | None

    @classmethod
    def from_domain(cls, row: BrandingRow) -> BrandingOut:
        return cls(**{f: getattr(row, f) for f in cls.__struct_fields__})


class BrandingController(Controller):
    path = "/v1/branding"
    tags = ["unsubscribe"]
    opt = {"scope": "admin"}

    @get("/", summary="Read the tenant's branding")
    async def get_branding(self, ctx: Ctx, tenant_id: TenantId) -> BrandingOut:
        return BrandingOut.from_domain(await tenants.get_branding(ctx, tenant_id))

    @put("/", status_code=HTTP_200_OK, summary="Replace the tenant's branding")
    async def put_branding(self, ctx: Ctx, tenant_id: TenantId, data: BrandingIn) -> BrandingOut:
        """Name, logo, primary colour, privacy-policy link and unsubscribe mailbox shown on the preference
        page; fields left out are cleared."""
        return BrandingOut.from_domain(await tenants.set_branding(ctx, tenant_id, data))

    @patch("/", summary="Change some of the tenant's branding")
    async def patch_branding(self, ctx: Ctx, tenant_id: TenantId, data: BrandingPatch) -> BrandingOut:
        """Only the fields given change; ``null`` clears a field (JSON merge patch)."""
        return BrandingOut.from_domain(await tenants.patch_branding(ctx, tenant_id, data))
