"""`Idempotency-Key` at the edge: reading the key, fingerprinting the request, sending the answer.

The fingerprint is SHA-256 over the method, the path and the body as canonical JSON (keys sorted,
no insignificant white space), so a retry that re-serializes the same body still matches while a
different body or another endpoint under the same key is told apart (422).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, FastAPI, Header, Request, Response
from pydantic import BaseModel

from case_service.api.conditional import case_etag
from case_service.domain.errors import BadRequest
from case_service.service.idempotency import IdempotentCall, IdempotentReplay, StoredResponse

T = TypeVar("T")

REPLAYED_HEADER = "Idempotent-Replayed"
KEY_MAX_LENGTH = 255
_KEY = re.compile(r"^[\x21-\x7e]{1,%d}$" % KEY_MAX_LENGTH)

IDEMPOTENCY_HEADERS_DOC = {
    REPLAYED_HEADER: {
        "description": "`true` when this answer is the stored answer to an earlier request with the same "
        "`Idempotency-Key` (nothing was changed this time). Absent otherwise.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


@dataclass(frozen=True)
class IdempotencyKey:
    key: str
    fingerprint: str


async def idempotency_key(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Makes the request safe to retry: a repeat with the same key and body within "
            "IDEMPOTENCY_TTL_SECONDS (24 h) answers the first answer again (with `Idempotent-Replayed: "
            "true`) and changes nothing; the same key with another body or endpoint is a 422. Keys are "
            "per user, 1-255 printable ASCII characters (a UUID is a good key)."
        ),
    ] = None,
) -> IdempotencyKey | None:
    if idempotency_key is None:
        return None
    if len(request.headers.getlist("idempotency-key")) > 1 or not _KEY.match(idempotency_key):
        raise BadRequest(
            f"Idempotency-Key must be sent once, as 1-{KEY_MAX_LENGTH} printable ASCII characters without spaces",
            header="Idempotency-Key",
        )
    return IdempotencyKey(idempotency_key, fingerprint(request.method, request.url.path, await request.body()))


def fingerprint(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except ValueError:  # not JSON: the request will be refused anyway, but compare it as sent
        canonical = body
    return hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest()


def json_answer(status_code: int, body: BaseModel, *, version: int | None = None) -> StoredResponse:
    """The answer to send (and store, for replays): JSON, with the case's ETag when it is a case."""
    headers = {"ETag": case_etag(version)} if version is not None else {}
    return StoredResponse(status_code=status_code, body=body.model_dump_json(), headers=headers)


def send(answer: StoredResponse, *, replayed: bool = False) -> Response:
    headers = dict(answer.headers)
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(answer.body, status_code=answer.status_code, media_type="application/json", headers=headers)


def install_replay_handler(app: FastAPI) -> None:
    async def replay(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, IdempotentReplay)
        return send(exc.response, replayed=True)

    app.add_exception_handler(IdempotentReplay, replay)


IdempotencyKeyDep = Annotated[IdempotencyKey | None, Depends(idempotency_key)]


def idempotent(key: IdempotencyKey | None, respond: Callable[[T], StoredResponse]) -> IdempotentCall[T] | None:
    """The use case's idempotency argument: None when the request carries no key."""
    if key is None:
        return None
    return IdempotentCall(key=key.key, fingerprint=key.fingerprint, respond=respond)


