"""`python -m kiro_testing.chaos` (`make chaos`): the reliability suite; `--short` is the form
`make test` runs. Prints the tables; exit status 1 when a rule is broken."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

from kiro_testing.chaos.report import render
from kiro_testing.chaos.run import ChaosOptions, ChaosRun, run_chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kiro_testing.chaos",
        description="break a loopback deployment on purpose while clients keep sending",
    )
    parser.add_argument("--short", action="store_true", help="the short form run by `make test`")
    parser.add_argument("--clients", type=int, help="concurrent clients")
    parser.add_argument("--hold", type=float, help="seconds each fault stays in place")
    parser.add_argument("--min-requests", type=int, help="keep the load going until this many were sent")
    parser.add_argument("--workdir", type=Path, help="keep logs and Redis data here (default: a temp folder)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides: dict[str, Any] = {}
    if args.clients:
        overrides["clients"] = args.clients
    if args.hold:
        overrides["hold_s"] = args.hold
    if args.min_requests:
        overrides["min_requests"] = args.min_requests
    options = (
        ChaosOptions.short_form(**overrides)
        if args.short
        else dataclasses.replace(ChaosOptions(), **overrides)
    )
    options.workdir = args.workdir
    options.json_path = args.json
    report = run_chaos(options)
    sys.stdout.write(render(report))
    run = report.options.get("workdir")
    if args.workdir is None and report.passed:
        ChaosRun.cleanup_dir(Path(report.log_dir).parent)
    else:
        sys.stdout.write(f"logs: {report.log_dir or run}\n")
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=2, default=str))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
