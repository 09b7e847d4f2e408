"""Opaque list cursors: a keyset position, bound to one selection, signed so it cannot be forged.

A cursor is `base64url(payload).base64url(hmac)`. The payload holds the position (the sort key of
the last row and its creation sequence) and a digest of the selection (user, filters, search,
sort). A cursor that does not verify, or that comes back with another selection, is refused with
400 instead of silently listing something else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from case_service.domain.errors import InvalidCursor
from case_service.domain.queries import CaseQuery, Position, SortField

CURSOR_MAX_LENGTH = 1024
_SIGNATURE_BYTES = 16


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, query: CaseQuery, position: Position) -> str:
        key, seq = position
        value = key.isoformat() if isinstance(key, datetime) else key
        payload = json.dumps({"s": _digest(query), "k": [value, seq]}, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, token: str, query: CaseQuery) -> Position:
        """The position the cursor holds, after checking it is ours, intact, and for this query."""
        if len(token) > CURSOR_MAX_LENGTH or token.count(".") != 1:
            raise _invalid("is not a cursor this service issued")
        encoded_payload, encoded_signature = token.split(".")
        try:
            payload, signature = _unb64(encoded_payload), _unb64(encoded_signature)
        except (binascii.Error, ValueError):
            raise _invalid("is not a cursor this service issued") from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise _invalid("was altered or was not issued by this service")
        data = json.loads(payload)
        if data.get("s") != _digest(query):
            raise _invalid(
                "was issued for other filters, search or sort; repeat the parameters of the request "
                "that returned it (only `limit` and `fields` may change)"
            )
        key, seq = data["k"]
        return _typed_key(query.sort.field, key), int(seq)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def _typed_key(sort_field: SortField, value: Any) -> Any:
    if sort_field in (SortField.CREATED_AT, SortField.UPDATED_AT):
        return datetime.fromisoformat(value)
    return value


def _digest(query: CaseQuery) -> str:
    return hashlib.sha256(query.selection_key().encode()).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _invalid(message: str) -> InvalidCursor:
    return InvalidCursor(f"cursor {message}", parameter="cursor")
