"""`make lock`: compile requirements.lock.txt from the workspace's declarations.

The input is every member's pyproject.toml (its `dependencies`) and the root's `dev` group; the
workspace members themselves are not pinned (they are installed from the checkout). The
versions pinned today are passed as constraints, so adding a dependency never upgrades
another; `--upgrade` (everything) or `--upgrade-package NAME` (repeatable) lifts them.

    python scripts/lock.py [--upgrade] [--upgrade-package NAME ...]

Needs `uv` (in the dev group, so in .venv after `make venv`) and the package index.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from workspace import ROOT, members, normalize, requirement_name

LOCK = ROOT / "requirements.lock.txt"
PYTHON_VERSION = "3.11"


def _uv() -> str:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if found is None:
        raise SystemExit("lock: uv not found (make venv installs it; or: pip install uv)")
    return found


def current_pins(lock: Path, lifted: set[str] | None) -> list[str]:
    """`name==version ; marker` lines of the lock, minus the lifted names (None lifts all)."""
    if lifted is None or not lock.is_file():
        return []
    pins = []
    for line in lock.read_text().splitlines():
        if line and not line.startswith((" ", "#", "-")) and requirement_name(line) not in lifted:
            pins.append(line)
    return pins


def drop_constraint_notes(text: str, constraints: Path) -> str:
    """uv notes `-c <file>` under every pin; the file is a temporary one, so the note is noise."""
    note = f"    #   -c {constraints}"
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line == "    # via":
            entries = []
            i += 1
            while i < len(lines) and lines[i].startswith("    #   "):
                if lines[i] != note:
                    entries.append(lines[i])
                i += 1
            if len(entries) == 1:
                out.append("    # via " + entries[0].removeprefix("    #   "))
            elif entries:
                out += ["    # via", *entries]
            continue
        out.append(line)
        i += 1
    return "\n".join(out) + "\n"


def compile_lock(upgrade: bool, upgrade_packages: list[str]) -> None:
    workspace = members()
    lifted = None if upgrade else {normalize(p) for p in upgrade_packages}
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "pins.txt"
        constraints.write_text("".join(p + "\n" for p in current_pins(LOCK, lifted)))
        cmd = [
            _uv(),
            "pip",
            "compile",
            "--universal",
            "--python-version",
            PYTHON_VERSION,
            "--custom-compile-command",
            "make lock",
            "--constraints",
            str(constraints),
            "--group",
            "pyproject.toml:dev",
            "--output-file",
            str(LOCK),
            *(["--upgrade"] if upgrade else []),
            *(arg for name in upgrade_packages for arg in ("--upgrade-package", name)),
            *(arg for m in workspace for arg in ("--no-emit-package", m.name)),
            *(f"{m.relpath}/pyproject.toml" for m in workspace),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_INDEX"))}
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)
        LOCK.write_text(drop_constraint_notes(LOCK.read_text(), constraints))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--upgrade", action="store_true", help="lift every pin")
    parser.add_argument("--upgrade-package", action="append", default=[], metavar="NAME")
    args = parser.parse_args()
    compile_lock(args.upgrade, args.upgrade_package)


if __name__ == "__main__":
    main()
