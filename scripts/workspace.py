"""The uv workspace as data: its members, what each declares, and the dev group of the root.

Standard library only (the Dockerfile runs it before anything is installed). Used by
`scripts/lock.py` (the lock's input), `scripts/bootstrap.sh` (the editable installs), the
Dockerfile (the runtime requirements of the image) and `tests/architecture` (the checks).

    python scripts/workspace.py paths      every member's folder, one a line
    python scripts/workspace.py packages   every member's import package(s), one a line
    python scripts/workspace.py runtime    third-party requirements of every member
    python scripts/workspace.py all        the same plus the root's dev group (the lock's input)
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    """PEP 503 name: `Nats_Py` and `nats-py` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    """The normalized distribution name of a PEP 508 requirement string."""
    match = _NAME.match(spec)
    if match is None:
        raise ValueError(f"not a requirement: {spec!r}")
    return normalize(match.group(1))


def read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class Member:
    """One workspace package: libs/<x> or services/<x>."""

    path: Path
    name: str
    dependencies: tuple[str, ...]

    @property
    def src(self) -> Path:
        return self.path / "src"

    @property
    def packages(self) -> tuple[str, ...]:
        """The import names it ships: the packages under src/ (regular or namespace)."""
        return tuple(
            sorted(p.name for p in self.src.iterdir() if p.name.isidentifier() and any(p.glob("*.py")))
        )

    @property
    def relpath(self) -> str:
        return self.path.relative_to(ROOT).as_posix()


def root_config(root: Path = ROOT) -> dict[str, Any]:
    return read_toml(root / "pyproject.toml")


def members(root: Path = ROOT) -> list[Member]:
    """Every member matched by `[tool.uv.workspace] members`, sorted by folder."""
    patterns: list[str] = root_config(root)["tool"]["uv"]["workspace"]["members"]
    found: list[Member] = []
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if not (path / "pyproject.toml").is_file():
                continue
            project = read_toml(path / "pyproject.toml")["project"]
            found.append(Member(path, normalize(project["name"]), tuple(project.get("dependencies", []))))
    return sorted(found, key=lambda m: m.relpath)


def member_names(root: Path = ROOT) -> set[str]:
    return {m.name for m in members(root)}


def third_party(specs: tuple[str, ...] | list[str], local: set[str]) -> list[str]:
    """The requirements that are not workspace members (`local`: their names)."""
    return [s for s in specs if requirement_name(s) not in local]


def dev_group(root: Path = ROOT) -> list[str]:
    group: list[str] = root_config(root)["dependency-groups"]["dev"]
    return list(group)


def runtime_requirements(root: Path = ROOT) -> list[str]:
    """Third-party requirements of every member, deduplicated, sorted by name."""
    workspace = members(root)
    local = {m.name for m in workspace}
    specs = {" ".join(s.split()) for m in workspace for s in third_party(m.dependencies, local)}
    return sorted(specs, key=lambda s: (requirement_name(s), s))


def all_requirements(root: Path = ROOT) -> list[str]:
    """What the lock is compiled from: every member's third-party requirements and the dev group."""
    specs = set(runtime_requirements(root)) | {" ".join(s.split()) for s in dev_group(root)}
    return sorted(specs, key=lambda s: (requirement_name(s), s))


def main(argv: list[str]) -> int:
    commands: dict[str, Callable[[], list[str]]] = {
        "paths": lambda: [m.relpath for m in members()],
        "packages": lambda: [p for m in members() for p in m.packages],
        "runtime": runtime_requirements,
        "all": all_requirements,
    }
    if len(argv) != 1 or argv[0] not in commands:
        sys.stderr.write(f"usage: workspace.py {{{'|'.join(commands)}}}\n")
        return 2
    for line in commands[argv[0]]():
        sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
