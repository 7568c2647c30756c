"""The short form of the reliability suite (`python -m kiro_testing.chaos --short`), as `make test`
runs it: every fault at least once over at least 200 requests, and the rules of the full run.

It runs in a child process (its own event loop, signal handling and log files); the table it
prints is shown when the test fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAULTS = {
    "SIGTERM gateway 0 (rolling restart)",
    "SIGKILL broker 1",
    "SIGKILL gateway 1",
    "NATS restart",
    "Redis restart",
    "upstream 429s",
    "upstream 500s",
    "upstream torn streams",
    "upstream slow first bytes",
    "expired access tokens (refresh rotates)",
    "rotation during a Redis outage",
}


@pytest.mark.timeout(900)
def test_chaos_short_form(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kiro_testing.chaos",
            "--short",
            "--workdir",
            str(tmp_path / "run"),
            "--json",
            str(report_path),
        ],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    table = proc.stdout + proc.stderr[-3000:]
    assert report_path.exists(), table
    report = json.loads(report_path.read_text())
    assert proc.returncode == 0, table
    assert report["passed"], table
    assert report["sent"] >= 200, table
    assert report["hangs"] == 0, table
    assert FAULTS <= {f["name"] for f in report["faults"]}, table
    assert all(f["recovery_s"] is not None for f in report["faults"]), table
    assert report["secrets_found"] == [], table
