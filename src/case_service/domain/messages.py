"""Messages of a case's conversation: value type and input rules. The Case aggregate appends them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from case_service.domain.errors import InvalidInput

MESSAGE_CONTENT_MAX_LENGTH = 50_000
MESSAGE_ID_PREFIX = "msg_"


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


@dataclass(frozen=True)
class Message:
    """One message of the conversation. `sequence` numbers a case's messages 1, 2, 3, ... with no gaps."""

    message_id: str
    case_id: str
    sequence: int
    role: MessageRole
    content: str
    metadata: dict[str, Any]
    created_at: datetime


def new_message_id() -> str:
    return MESSAGE_ID_PREFIX + secrets.token_hex(8)


def normalize_role(value: object) -> MessageRole:
    try:
        return MessageRole(value)
    except ValueError:
        allowed = ", ".join(role.value for role in MessageRole)
        raise InvalidInput("role", f"must be one of: {allowed}") from None


def normalize_content(value: object) -> str:
    """Kept exactly as sent (whitespace matters in logs and code), but never blank."""
    if not isinstance(value, str):
        raise InvalidInput("content", "must be a string")
    if not value.strip():
        raise InvalidInput("content", "must not be blank")
    if len(value) > MESSAGE_CONTENT_MAX_LENGTH:
        raise InvalidInput("content", f"must be at most {MESSAGE_CONTENT_MAX_LENGTH} characters")
    return value


def normalize_message_metadata(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("metadata", "must be a JSON object")
    return dict(value)
