"""`python -m kiro_sim` (`make sim`): settings from `KIRO_SIM_*` plus CLI flags, then uvicorn.

Flags override the environment: `--host`, `--port` (default 8999), `--accounts FILE`,
`--seed-demo`, `--log-level`, `--chunking`. Logging is configured here, once: one line per
record, `key=value` fields, tokens only ever in redacted form.

Deliberately not here: the app itself (`app.py`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn

from kiro_sim.app import create_app
from kiro_sim.settings import SimSettings
from kiro_sim.tokens import DEMO_REFRESH_TOKEN, redact

logger = logging.getLogger("kiro_sim")

# uvicorn reports a response we end on purpose (a scripted cut) as an error; it is not one.
_EXPECTED_UVICORN_ERRORS = ("ASGI callable returned without completing response.",)


class _DropScriptedCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in _EXPECTED_UVICORN_ERRORS


def parse_args(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="kiro_sim", description="Kiro upstream simulator")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8999)")
    parser.add_argument("--accounts", dest="accounts_file", help="JSON file with accounts to seed")
    parser.add_argument(
        "--seed-demo",
        action="store_true",
        default=None,
        help="create the demo Social account with the fixed refresh token",
    )
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")
    parser.add_argument("--chunking", choices=["random", "frame", "whole"], help="default response chunking")
    args = parser.parse_args(argv)
    return {k: v for k, v in vars(args).items() if v is not None}


def build_settings(argv: Sequence[str] | None = None) -> SimSettings:
    return SimSettings(**parse_args(argv))


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s")
    )
    handler.addFilter(_DropScriptedCuts())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def main(argv: Sequence[str] | None = None) -> None:
    settings = build_settings(argv)
    configure_logging(settings.log_level)
    app = create_app(settings)
    logger.info(
        "kiro-sim listening host=%s port=%d demo=%s demo_refresh_token=%s",
        settings.host,
        settings.port,
        settings.seed_demo,
        redact(DEMO_REFRESH_TOKEN) if settings.seed_demo else "-",
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    main()
