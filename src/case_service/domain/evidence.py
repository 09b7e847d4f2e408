"""Evidence references: files the Evidence Service holds, linked to a case by `evidence.uploaded`.

The case service never stores the file; it records which evidence belongs to the case, so the case
and the agent's context can name it. The Evidence Service stays the owner of the content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

EVIDENCE_ID_MAX_LENGTH = 64
FILE_NAME_MAX_LENGTH = 255
CONTENT_TYPE_MAX_LENGTH = 255
UPLOADER_MAX_LENGTH = 128


@dataclass(frozen=True)
class Evidence:
    evidence_id: str
    case_id: str
    file_name: str
    uploaded_at: datetime
    uploaded_by: str | None
    content_type: str | None = None
    size_bytes: int | None = None
