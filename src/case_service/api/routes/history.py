"""Audit routes: the case's history of changes, and the status moves open to it now."""

from __future__ import annotations

from fastapi import APIRouter

from case_service.api.deps import CaseServiceDep, ContextDep, PageDep
from case_service.api.routes.cases import CaseIdPath, errors
from case_service.api.schemas import HistoryEntryRead, HistoryList, TransitionsRead

router = APIRouter(prefix="/api/v1/cases", tags=["history"])


@router.get(
    "/{case_id}/history",
    response_model=HistoryList,
    responses=errors(400, 401, 404, 422),
    summary="A case's audit trail",
    description=(
        "Every change to the case, newest first: its creation, each update (every changed field with "
        "its old and new value; tags also as added/removed), each status move with its reason, each "
        "added message — with the actor (`X-User-ID`, `X-User-Email` when sent), the time and the "
        "correlation id of the request. Entries are written in the same transaction as the change "
        "and no API edits or deletes them. Deleting the case removes its history with it; one "
        "tombstone row recording who deleted the case, when and under which correlation id is kept "
        "in the database (not readable here: the case answers 404 once deleted)."
    ),
)
async def case_history(case_id: CaseIdPath, ctx: ContextDep, service: CaseServiceDep, page: PageDep) -> HistoryList:
    found = await service.case_history(ctx, case_id, limit=page.limit, offset=page.offset)
    return HistoryList(
        entries=[HistoryEntryRead.from_domain(entry) for entry in found.entries],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/{case_id}/transitions",
    response_model=TransitionsRead,
    responses=errors(400, 401, 404),
    summary="The statuses a case can move to now",
    description="The targets `POST /api/v1/cases/{case_id}/status` accepts from the current status.",
)
async def reachable_statuses(case_id: CaseIdPath, ctx: ContextDep, service: CaseServiceDep) -> TransitionsRead:
    case, targets = await service.reachable_statuses(ctx, case_id)
    return TransitionsRead(
        case_id=case.case_id, current_status=case.status, allowed_statuses=list(targets), version=case.version
    )
