"""Reading a JSON Merge Patch (RFC 7386) body: its media type, its JSON, PUT's field validation."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException

from case_service.api.schemas import CaseUpdate, Description, SessionId, Tags, Title
from case_service.domain.case import Category, Severity
from case_service.domain.errors import InvalidInput

MERGE_PATCH_MEDIA_TYPE = "application/merge-patch+json"


class CaseMergePatch(BaseModel):
    """The contract of a case merge patch (documentation only: the body is checked with CaseUpdate's
    rules once the nulls are set aside)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"severity": "high", "session_id": None, "metadata": {"region": None}}]},
    )

    title: Title | None = Field(default=None, description="Cannot be null.")
    description: Description | None = Field(default=None, description='null clears it to "".')
    severity: Severity | None = Field(default=None, description="Cannot be null.")
    category: Category | None = Field(default=None, description="Cannot be null.")
    metadata: dict[str, Any] | None = Field(
        default=None, description="Merged key by key into the case's metadata; a null value removes that key; null clears it."
    )
    tags: Tags | None = Field(default=None, description="Replaces the tags; null removes them all.")
    session_id: SessionId | None = Field(default=None, description="null unlinks the session.")


MERGE_PATCH_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        MERGE_PATCH_MEDIA_TYPE: {
            "schema": {
                key: value
                for key, value in CaseMergePatch.model_json_schema(ref_template="#/components/schemas/{model}").items()
                if key != "$defs"
            }
        }
    },
}


async def read_merge_patch(request: Request) -> dict[str, Any]:
    """The patch as a JSON object whose non-null fields passed PUT's validation.

    415 for another media type, 400 for JSON that does not parse, 422 for anything but an object
    (RFC 7386 would let a non-object replace the whole case, which no case can be) or a bad field.
    """
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != MERGE_PATCH_MEDIA_TYPE:
        raise HTTPException(415, f"PATCH takes Content-Type {MERGE_PATCH_MEDIA_TYPE}, not {media_type or 'none'}")
    body = await request.body()
    try:
        patch = json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "ctx": {"error": str(exc)}}]
        ) from None
    if not isinstance(patch, dict):
        raise InvalidInput("body", "a merge patch for a case must be a JSON object")
    present = {name: value for name, value in patch.items() if value is not None}
    try:
        CaseUpdate.model_validate(present)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None
    return patch
