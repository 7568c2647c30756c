"""`python -m kiro_sim` (`make sim`): `KIRO_SIM_*` settings, overridden by the flags below,
then `kiro_service.serve` (the app is `app.py`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from kiro_service import Listen, load_settings, serve
from kiro_sim import logs
from kiro_sim.app import create_app
from kiro_sim.settings import SimSettings
from kiro_sim.tokens import DEMO_REFRESH_TOKEN, redact


def parse_args(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="kiro_sim", description="Kiro upstream simulator")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8999)")
    parser.add_argument("--accounts", dest="accounts_file", help="JSON file with accounts to seed")
    parser.add_argument("--seed-demo", action="store_true", default=None, help="the demo Social account")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARN, ERROR")
    parser.add_argument("--chunking", choices=["random", "frame", "whole"], help="default response chunking")
    return {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings(SimSettings, "kiro-sim", **parse_args(argv))
    logs.configure(settings.log_level)
    demo = redact(DEMO_REFRESH_TOKEN) if settings.seed_demo else "-"
    logging.getLogger("kiro_sim").info("kiro-sim listening", extra={"port": settings.port, "demo": demo})
    return serve(create_app(settings), Listen("kiro-sim", settings.host, settings.port, grace_s=5.0))


if __name__ == "__main__":
    sys.exit(main())
