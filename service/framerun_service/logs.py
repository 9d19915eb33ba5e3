"""Structured JSON logs, one line per request, in the shape Cloud Logging parses."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from framerun_service.core.wire import TRACE_HEADER

_logger = logging.getLogger("framerun.request")


def configure() -> None:
    """Send framerun's loggers to stdout as JSON lines (Cloud Run collects stdout)."""
    root = logging.getLogger("framerun")
    if any(getattr(h, "_framerun", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler._framerun = True  # type: ignore[attr-defined]
    handler.setFormatter(_JsonFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"severity": record.levelname, "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def trace_field(header: str | None, project_id: str) -> dict[str, str]:
    """Cloud Run's ``X-Cloud-Trace-Context: TRACE/SPAN;o=1`` → the log field that links them."""
    if not header:
        return {}
    trace = header.split("/", 1)[0]
    if project_id:
        return {"logging.googleapis.com/trace": f"projects/{project_id}/traces/{trace}"}
    return {"trace": trace}


def log_request(level: int, message: str, **fields: Any) -> None:
    _logger.log(level, message, extra={"fields": fields})


__all__ = ["TRACE_HEADER", "configure", "log_request", "trace_field"]
