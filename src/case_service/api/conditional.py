"""Conditional requests (RFC 9110 section 13) on cases: `ETag`, `If-Match`, `If-None-Match`.

A case's ETag is its `version` as a strong entity tag: `"7"`. Strong because the body of a case at
a given version is the same bytes every time (a case id and a version name one state), and because
`If-Match` uses the strong comparison, so a weak tag could never match there. The tag is unique per
URL (each case has its own versions), which is all an ETag has to be.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response

from case_service.api.deps import header_parameter
from case_service.domain.errors import BadRequest
from case_service.service.preconditions import ANY_VERSION, VersionPrecondition

_ENTITY_TAG = re.compile(r'^(W/)?"([\x21\x23-\x7e]*)"$')

ETAG_HEADER_DOC = {
    "ETag": {"description": 'The case\'s `version` as a strong entity tag, e.g. `"7"`.', "schema": {"type": "string"}}
}


def case_etag(version: int) -> str:
    return f'"{version}"'


def set_case_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = case_etag(version)


def entity_tags(header: str, name: str) -> list[tuple[bool, str]] | None:
    """The (weak, opaque tag) pairs of an `If-Match`/`If-None-Match` list; None for `*`."""
    if header.strip() == "*":
        return None
    tags = []
    for part in header.split(","):
        match = _ENTITY_TAG.match(part.strip())
        if match is None:
            raise BadRequest(
                f'{name} must be "*" or a comma-separated list of entity tags such as "7" or W/"7"', header=name
            )
        tags.append((match.group(1) is not None, match.group(2)))
    return tags


def none_match(if_none_match: str, etag: str) -> bool:
    """True when `If-None-Match` names `etag` (weak comparison: `W/` is ignored) or is `*`."""
    tags = entity_tags(if_none_match, "If-None-Match")
    return tags is None or any(f'"{opaque}"' == etag for _weak, opaque in tags)


# A read's `If-None-Match` is read from the request by `not_modified`: as a `Header` parameter it
# cost a GET 5% of its instructions (bench/PROFILE.md §20.2). `if_none_match_doc` documents it, as
# the parameter did, through the route's `openapi_extra`.
def if_none_match_doc(text: str) -> dict[str, Any]:
    return {"parameters": [if_none_match_parameter(text)]}


def if_none_match_parameter(text: str) -> dict[str, Any]:
    return header_parameter("if-none-match", "If-None-Match", text)


def not_modified(request: Request, etag: str) -> bool:
    """Whether the request's `If-None-Match` names `etag`. Repeated header lines count as one list."""
    values = request.headers.getlist("if-none-match")
    return bool(values) and none_match(", ".join(values), etag)


async def version_precondition(
    request: Request,
    if_match: Annotated[
        str | None,
        Header(
            description='Change the case only if it is still at this version: its ETag (`"7"`). A stale '
            "version answers 412 with the current one and changes nothing. `*` or no header: any version."
        ),
    ] = None,
) -> VersionPrecondition:
    """`If-Match` as the versions the caller accepts. Strong comparison: a weak tag never matches.

    The parameter documents the header, and holds only its first line: repeated lines are one list
    (RFC 9110 section 5.3), so they are read from the request."""
    if if_match is None:
        return ANY_VERSION
    tags = entity_tags(", ".join(request.headers.getlist("if-match")), "If-Match")
    if tags is None:
        return ANY_VERSION
    return VersionPrecondition(
        frozenset(int(opaque) for weak, opaque in tags if not weak and opaque.isdigit() and len(opaque) < 10)
    )


IfMatchDep = Annotated[VersionPrecondition, Depends(version_precondition)]
