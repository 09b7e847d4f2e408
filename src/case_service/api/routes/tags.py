"""Tag routes: add to and remove from one case, and the caller's tags with their counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from case_service.api.conditional import IfMatchDep, set_case_etag
from case_service.api.deps import CaseServiceDep, ContextDep
from case_service.api.routes.cases import CaseIdPath, case_answer, errors
from case_service.api.schemas import CaseRead, TagCountList, TagCountRead, TagsAdd

# Included after the cases router: its by-id routes' `{case_id:case}` leaves `/tags` to this one
# (`cases.FIXED_SEGMENTS`).
router = APIRouter(prefix="/api/v1/cases", tags=["tags"])

TagPath = Annotated[
    str,
    Path(description="The tag to remove, normalized like every tag (trimmed, lower-cased); URL-encode it."),
]


@router.get(
    "/tags",
    response_model=TagCountList,
    responses=errors(400, 401),
    summary="The caller's tags, with how many cases carry each",
    description="For tag pickers: every tag on the caller's cases, most used first (equal counts by name).",
)
async def list_tags(ctx: ContextDep, service: CaseServiceDep) -> TagCountList:
    counts = await service.tag_counts(ctx)
    return TagCountList(tags=[TagCountRead(tag=c.tag, count=c.count) for c in counts])


@router.post(
    "/{case_id}/tags",
    response_model=CaseRead,
    responses={
        **case_answer(),
        **errors(400, 401, 404, 412, 422, e422="A tag is invalid, or the case would carry more than 20 tags."),
    },
    summary="Add tags to a case",
    description=(
        "Adds the tags (normalized: trimmed, lower-cased, deduplicated) and answers the case. Tags the "
        "case already carries change nothing: a call that adds no new tag leaves the case and its "
        "`version` as they were and records no event. Otherwise the `case.updated` event and the "
        "history carry the old and new tag lists."
    ),
)
async def add_tags(
    case_id: CaseIdPath,
    body: TagsAdd,
    ctx: ContextDep,
    service: CaseServiceDep,
    precondition: IfMatchDep,
    response: Response,
) -> CaseRead:
    case = await service.add_tags(ctx, case_id, body.tags, precondition)
    set_case_etag(response, case.version)
    return CaseRead.from_domain(case)


@router.delete(
    "/{case_id}/tags/{tag:path}",
    response_model=CaseRead,
    responses={**case_answer(), **errors(400, 401, 404, 412, 422)},
    summary="Remove a tag from a case",
    description=(
        "Removes the tag (matched after normalization: `/tags/Database` removes `database`) and "
        "answers the case. Removing a tag the case does not carry is not an error: it answers 200 "
        "with the unchanged case (same `version`, no event), so a retried removal is safe. 404 "
        "only when the case is missing or another user's."
    ),
)
async def remove_tag(
    case_id: CaseIdPath,
    tag: TagPath,
    ctx: ContextDep,
    service: CaseServiceDep,
    precondition: IfMatchDep,
    response: Response,
) -> CaseRead:
    case = await service.remove_tag(ctx, case_id, tag, precondition)
    set_case_etag(response, case.version)
    return CaseRead.from_domain(case)
