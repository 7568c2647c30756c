"""Structured (JSON) logging, configured once by `__main__` (dashboard and oauth).

One JSON line per record: time, level, logger, message and the `extra={...}` fields. Callers
never pass tokens, keys or request bodies; as a last guard every line also goes through the
`Redactor` holding the configured admin / client keys.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from dashboard.redact import Redactor

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, redactor: Redactor) -> None:
        super().__init__()
        self._service = service
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__
            out["exc"] = self.formatException(record.exc_info)
        return self._redactor.text(orjson.dumps(out, default=str).decode())


def configure_logging(service: str, level: str, redactor: Redactor) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service, redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the service logs each request itself
    for noisy in ("httpx", "httpcore", "nats"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
