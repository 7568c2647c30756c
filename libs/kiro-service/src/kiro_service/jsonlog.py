"""Structured (JSON) logging, configured once by a service's `__main__`.

One JSON line per record: time, level, service, logger, message and the `extra={...}` fields.
Callers never pass tokens, keys or request bodies; a service that holds operator keys may add
`redact` as a last guard applied to every finished line.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
_NOISY = ("httpx", "httpcore", "nats")
_LEVEL_ALIASES = {"WARN": "WARNING"}  # LOG_LEVEL accepts the seed's DEBUG, INFO, WARN, ERROR


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, redact: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self._service = service
        self._redact = redact

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
        line = orjson.dumps(out, default=str).decode()
        return self._redact(line) if self._redact is not None else line


def configure_logging(service: str, level: str, redact: Callable[[str], str] | None = None) -> None:
    """JSON lines on stderr for the root logger; uvicorn's loggers propagate to it and its
    access log is off (each service logs its own request line)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service, redact))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    name = level.strip().upper()
    root.setLevel(_LEVEL_ALIASES.get(name, name))
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
