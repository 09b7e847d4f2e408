"""The evidence linked to a case (by `evidence.uploaded` platform events)."""

from __future__ import annotations

from fastapi import APIRouter

from case_service.api.deps import CaseServiceDep, ContextDep, PageDep
from case_service.api.routes.cases import CaseIdPath, errors
from case_service.api.schemas import EvidenceList, EvidenceRead

router = APIRouter(prefix="/api/v1/cases", tags=["evidence"])


@router.get(
    "/{case_id}/evidence",
    response_model=EvidenceList,
    responses=errors(400, 401, 404, 422),
    summary="The evidence linked to a case",
    description=(
        "References to the files uploaded for the case to the Evidence Service, oldest upload "
        "first. They arrive as `evidence.uploaded` events; the files themselves stay with the "
        "Evidence Service. Another user's case answers 404, as everywhere."
    ),
)
async def list_evidence(case_id: CaseIdPath, ctx: ContextDep, service: CaseServiceDep, page: PageDep) -> EvidenceList:
    found = await service.list_evidence(ctx, case_id, limit=page.limit, offset=page.offset)
    return EvidenceList(
        evidence=[EvidenceRead.from_domain(evidence) for evidence in found.evidence],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )
