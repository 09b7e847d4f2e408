"""Per-user routes: one user's cases, for that user or an admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from case_service.api.deps import USER_ID_MAX_LENGTH, USER_ID_PATTERN, CaseQueriesDep, ContextDep
from case_service.api.listing import CaseListParams, case_listing, list_response
from case_service.api.routes.cases import errors
from case_service.api.routes.listing import LIST_DESCRIPTION, read_parameters
from case_service.api.schemas import CaseList

router = APIRouter(prefix="/api/v1/users", tags=["cases"])

UserIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=USER_ID_MAX_LENGTH,
        pattern=USER_ID_PATTERN,
        description="The user whose cases to list: an `X-User-ID` value.",
    ),
]


@router.get(
    "/{user_id}/cases",
    response_model=CaseList,
    responses=errors(400, 401, 404, 422, e404="The caller is neither this user nor an `admin`."),
    summary="List one user's cases",
    description=(
        "The same parameters and body as `GET /api/v1/cases`, for the user in the path. Only that "
        "user, or a caller whose `X-User-Roles` holds `admin`, may call it; anyone else gets 404, as "
        "if the user did not exist.\n\n" + LIST_DESCRIPTION
    ),
    openapi_extra=read_parameters(CaseListParams, caller=False),
)
async def list_user_cases(user_id: UserIdPath, request: Request, ctx: ContextDep, service: CaseQueriesDep) -> Response:
    """The caller through FastAPI, as other routes with a checked path: a caller without `X-User-ID`
    gets 401 before a malformed user id gets 422."""
    listing = case_listing(request, ctx)
    query = listing.for_user(user_id)
    return list_response(request, listing, query, await service.list_user_cases(ctx, user_id, query))
