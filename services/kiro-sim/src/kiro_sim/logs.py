"""The simulator's logging: `kiro_service`'s JSON lines, without uvicorn's report of the
responses a script cuts on purpose (they are not errors). Tokens only ever in redacted form."""

from __future__ import annotations

import logging

from kiro_service import configure_logging

# uvicorn reports a response we end on purpose (a scripted cut) as an error; it is not one.
_EXPECTED_UVICORN_ERRORS = ("ASGI callable returned without completing response.",)


class DropScriptedCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in _EXPECTED_UVICORN_ERRORS


def configure(level: str) -> None:
    configure_logging("kiro-sim", level)
    logging.getLogger("uvicorn.error").addFilter(DropScriptedCuts())
