"""Logs as one JSON object per line (or readable text in development), with the request's ids.

The request middleware puts the request's state (correlation id, trace, user once known, route) in
`request_state_var`; every record logged while the request runs carries those fields. Bodies and
message contents are never logged: records hold ids, routes, statuses and durations only.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from case_service.config import Settings

request_state_var: ContextVar[dict[str, Any] | None] = ContextVar("request_state", default=None)

# Fields a record may carry (`logger.info(..., extra={...})`) that the JSON line keeps.
_EXTRA_FIELDS = ("method", "route", "path", "status", "duration_ms", "event_id", "event_type", "worker")
# Request-state keys copied into each record logged during the request.
_REQUEST_FIELDS = ("correlation_id", "trace_id", "span_id", "user_id")
_HANDLER_MARK = "_case_service_handler"


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": record.getMessage(),
            "service": self.service,
            "logger": record.name,
        }
        line.update(request_fields())
        for name in _EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """For a developer's terminal: the usual line, with the correlation id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        correlation_id = request_fields().get("correlation_id")
        return f"{text} [{correlation_id}]" if correlation_id else text


def request_fields() -> dict[str, Any]:
    state = request_state_var.get()
    if not state:
        return {}
    return {name: state[name] for name in _REQUEST_FIELDS if state.get(name) is not None}


def configure_logging(settings: Settings) -> None:
    """Route every logger (uvicorn's too) to one stdout handler in the configured format.

    Safe to call again (each app built in tests calls it): the previous handler is replaced.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    setattr(handler, _HANDLER_MARK, True)
    json_lines = settings.effective_log_format == "json"
    handler.setFormatter(JsonFormatter(settings.service_name) if json_lines else TextFormatter())
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    logging.getLogger("case_service").setLevel(settings.log_level)
    # uvicorn's loggers: let their records reach our handler instead of their own.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
