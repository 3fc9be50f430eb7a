"""``--log-format json``: one JSON object per log line, for log shippers (Loki, Elasticsearch,
CloudWatch). Fields: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, and
``exception`` when there is one. Log messages carry ids (leads, events, workers) and counts,
never lead field values, so nothing an access rule hides reaches a log."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = ["JSON_LOGGING", "JsonFormatter", "LogFormat", "formatter"]


class LogFormat(StrEnum):
    """How log lines look."""

    text = "text"
    json = "json"


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def formatter(kind: LogFormat) -> logging.Formatter:
    """The formatter of ``kind``."""
    if kind is LogFormat.json:
        return JsonFormatter()
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


JSON_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "leadflow.cli._log_format.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "leadflow": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
"""uvicorn's logging configuration for ``leadflow serve --log-format json`` (each worker process
applies it): uvicorn's and leadflow's loggers as JSON lines on stderr."""
