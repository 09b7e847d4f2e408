"""Messages of a case's conversation: the value type. The Case aggregate checks and appends them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

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
