"""Data subject rights over HTTP (admin)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK

from consent_svc.http.auth import ctx_of, principal_of
from consent_svc.service import subjects
from consent_svc.service.inputs import ErasureIn, SubjectPatchIn

AnyRequest = Request[Any, Any, Any]


class SubjectController(Controller):
    path = "/v1/subjects"
    tags = ["subjects"]

    @get("/", opt={"scope": "admin"})
    async def find_subject(
        self,
        request: AnyRequest,
        email: Annotated[str | None, Parameter(max_length=320)] = None,
        phone: Annotated[str | None, Parameter(max_length=64)] = None,
        external_id: Annotated[str | None, Parameter(max_length=200)] = None,
    ) -> dict[str, Any]:
        """The person with this identifier, and the current decision for each purpose."""
        ctx, tenant_id = ctx_of(request), principal_of(request).tenant_id
        ident = subjects.lookup_identifier(email, phone, external_id, ctx.settings.default_phone_region)
        return await subjects.view(ctx, tenant_id, await subjects.find(ctx, tenant_id, ident))

    @get("/{subject_id:uuid}", opt={"scope": "admin"})
    async def get_subject(self, request: AnyRequest, subject_id: UUID) -> dict[str, Any]:
        return await subjects.view(ctx_of(request), principal_of(request).tenant_id, subject_id)

    @get("/{subject_id:uuid}/export", opt={"scope": "admin"})
    async def export_subject(self, request: AnyRequest, subject_id: UUID) -> dict[str, Any]:
        """Everything held about the person (GDPR 15 and 20), format consent-svc.subject-export/1."""
        return await subjects.export(ctx_of(request), principal_of(request).tenant_id, subject_id)

    @patch("/{subject_id:uuid}", opt={"scope": "admin"})
    async def rectify_subject(self, request: AnyRequest, subject_id: UUID, data: SubjectPatchIn) -> dict[str, Any]:
        """Rectify identifiers or kind (GDPR 16); recorded in the ledger. An old address stays suppressed."""
        return await subjects.rectify(ctx_of(request), principal_of(request).tenant_id, subject_id, data)

    @delete("/{subject_id:uuid}", opt={"scope": "admin"}, status_code=HTTP_200_OK)
    async def erase_subject(
        self, request: AnyRequest, subject_id: UUID, data: ErasureIn | None = None
    ) -> dict[str, Any]:
        """Erasure (GDPR 17): personal data and events go, keyed-hash suppression entries stay. Answers the receipt."""
        erasure = await subjects.erase(
            ctx_of(request), principal_of(request).tenant_id, subject_id, data.reason if data else None
        )
        return {
            "erasure_id": erasure.id,
            "subject_id": erasure.subject_id,
            "erased_at": erasure.erased_at,
            "identifiers_removed": erasure.identifiers_removed,
            "events_erased": erasure.events_erased,
            "receipts_removed": erasure.receipts_removed,
            "messages_removed": erasure.messages_removed,
            "suppressions_kept": erasure.suppressions_kept,
        }
