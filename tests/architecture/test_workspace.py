"""The workspace is real: every member declares what it imports, and the lock pins all of it.

- Each member (libs/*, services/*) is tied into the root pyproject.toml (dependency, uv source,
  ruff and mypy paths) and installs in editable mode as a plain path.
- Each member's `dependencies` cover the third-party distributions its src/ imports (the import
  name mapped to its distribution through the installed metadata: `nats` is nats-py, `yaml`
  is pyyaml) and the workspace members it imports.
- The test folders, bench and scripts import only what the dev group or a member declares.
- requirements.lock.txt pins every declared requirement at a version the declaration accepts,
  with no index URL, no path and no editable line.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata as md
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from scripts import workspace
from tests.architecture.imports import Import, imports_under, is_stdlib
from tests.architecture.test_boundaries import KNOWN_VIOLATIONS

ROOT = workspace.ROOT
LOCK = ROOT / "requirements.lock.txt"
MEMBERS = {m.relpath: m for m in workspace.members()}
MEMBER_NAMES = workspace.member_names()
PACKAGE_MEMBER = {p: m for m in MEMBERS.values() for p in m.packages}
TEST_FOLDERS = sorted(
    [
        *(m.path / "tests" for m in MEMBERS.values() if (m.path / "tests").is_dir()),
        ROOT / "tests",
        ROOT / "bench",
    ]
)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


@cache
def module_owners() -> dict[str, frozenset[str]]:
    """Module or package (dotted) -> the installed distributions that ship it."""
    owners: dict[str, set[str]] = {}
    for dist in md.distributions():
        name = workspace.normalize(dist.metadata["Name"])
        for file in dist.files or []:
            parts = file.parts
            if not parts or ".." in parts or parts[0].endswith((".dist-info", ".data")):
                continue
            if file.suffix in {".py", ".pyi"} or ".so" in file.suffixes:
                stem = parts[-1].split(".")[0]
                dotted = [*parts[:-1], stem] if stem != "__init__" else list(parts[:-1])
                for i in range(1, len(dotted) + 1):
                    owners.setdefault(".".join(dotted[:i]), set()).add(name)
    return {module: frozenset(names) for module, names in owners.items()}


def distributions_of(module: str) -> frozenset[str]:
    """The distributions that can provide `module`: those shipping its longest known prefix
    (`opentelemetry.sdk.trace` is opentelemetry-sdk's, not every opentelemetry-* one's)."""
    parts = module.split(".")
    known = module_owners()
    for i in range(len(parts), 0, -1):
        found = known.get(".".join(parts[:i]))
        if found:
            return found
    return frozenset()


def declared_names(specs: Iterable[str]) -> set[str]:
    return {workspace.requirement_name(s) for s in specs}


def undeclared_third_party(imports: list[Import], declared: set[str]) -> list[str]:
    problems = []
    for imp in imports:
        if is_stdlib(imp.module) or imp.top in PACKAGE_MEMBER:
            continue
        owners = distributions_of(imp.module)
        if not owners:
            problems.append(f"{imp.where(ROOT)}: {imp.module} is installed by no distribution")
        elif not owners & declared:
            problems.append(f"{imp.where(ROOT)}: {imp.module} needs one of {sorted(owners)}")
    return sorted(set(problems))


def lock_pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            pins[workspace.normalize(match.group(1))] = Version(match.group(2))
    return pins


# ---- the members are tied into the root


def test_members_are_found() -> None:
    assert {"libs/kiroproto", "libs/kiro-service", "services/gateway", "services/kiro-sim"} <= set(MEMBERS)
    for member in MEMBERS.values():
        assert member.packages, f"{member.relpath}: no package under src/"


def test_root_depends_on_every_member_from_the_workspace() -> None:
    root = workspace.root_config()
    assert declared_names(root["project"]["dependencies"]) == MEMBER_NAMES
    sources = {workspace.normalize(k): v for k, v in root["tool"]["uv"]["sources"].items()}
    assert sources == {name: {"workspace": True} for name in MEMBER_NAMES}


@pytest.mark.parametrize("setting", ["ruff", "mypy"])
def test_tools_see_every_member(setting: str) -> None:
    tool = workspace.root_config()["tool"]
    paths = tool["ruff"]["src"] if setting == "ruff" else tool["mypy"]["mypy_path"]
    missing = sorted(
        f"{m.relpath}/src"
        for m in MEMBERS.values()
        if not any(fnmatch.fnmatchcase(f"{m.relpath}/src", pattern) for pattern in paths)
    )
    assert not missing, f"[tool.{setting}] lacks {missing}"


@pytest.mark.parametrize("relpath", sorted(MEMBERS))
def test_member_installs_as_a_plain_editable_path(relpath: str) -> None:
    member = MEMBERS[relpath]
    config = workspace.read_toml(member.path / "pyproject.toml")
    assert config["build-system"]["build-backend"] == "hatchling.build"
    hatch = config["tool"]["hatch"]["build"]
    assert hatch.get("dev-mode-dirs") == ["src"], (
        "make venv needs `[tool.hatch.build] dev-mode-dirs = ['src']`"
    )
    assert sorted(hatch["targets"]["wheel"]["packages"]) == [f"src/{p}" for p in member.packages]


# ---- every member declares what it imports


@pytest.mark.parametrize("relpath", sorted(MEMBERS))
def test_member_declares_its_third_party_imports(relpath: str) -> None:
    member = MEMBERS[relpath]
    problems = undeclared_third_party(imports_under(member.src), declared_names(member.dependencies))
    assert not problems, f"{relpath}/pyproject.toml does not declare:\n" + "\n".join(problems)


@pytest.mark.parametrize("relpath", sorted(MEMBERS))
def test_member_declares_the_members_it_imports(relpath: str) -> None:
    member = MEMBERS[relpath]
    declared = declared_names(member.dependencies)
    problems = set()
    for package in member.packages:
        for imp in imports_under(member.src / package):
            other = PACKAGE_MEMBER.get(imp.top)
            if other is None or other == member or (package, imp.top) in KNOWN_VIOLATIONS:
                continue
            if other.name not in declared:
                problems.add(f"{imp.where(ROOT)}: imports {imp.top}, declare {other.name}")
    assert not problems, "\n".join(sorted(problems))


def test_tests_bench_and_scripts_import_only_what_is_declared() -> None:
    everything = declared_names(workspace.dev_group()) | {
        name for m in MEMBERS.values() for name in declared_names(m.dependencies)
    }
    imports = [imp for folder in [*TEST_FOLDERS, ROOT / "scripts"] for imp in imports_under(folder)]
    local = {p.stem for folder in [*TEST_FOLDERS, ROOT / "scripts"] for p in folder.rglob("*.py")}
    problems = undeclared_third_party(
        [i for i in imports if i.top not in local and i.top not in {"tests", "bench", "scripts"}], everything
    )
    assert not problems, "declare in the root's dev group:\n" + "\n".join(problems)


def test_import_names_map_to_their_distributions() -> None:
    assert distributions_of("nats.aio.client") == {"nats-py"}
    assert distributions_of("yaml") == {"pyyaml"}
    assert distributions_of("PIL.Image") == {"pillow"}
    assert distributions_of("opentelemetry.sdk.trace") == {"opentelemetry-sdk"}
    assert distributions_of("no_such_module_anywhere") == frozenset()


# ---- the lock pins what is declared


def test_lock_pins_every_declared_requirement() -> None:
    pins = lock_pins()
    specs = {*workspace.all_requirements(), *(s for m in MEMBERS.values() for s in m.dependencies)}
    problems = []
    for spec in specs:
        req = Requirement(spec)
        name = workspace.normalize(req.name)
        if name in MEMBER_NAMES:
            continue
        if name not in pins:
            problems.append(f"{spec}: not pinned (make lock)")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{spec}: pinned at {pins[name]}, outside the declaration (make lock)")
    assert not problems, "\n".join(sorted(set(problems)))


def test_lock_has_versions_only() -> None:
    text = LOCK.read_text()
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assert _PIN.match(line), f"requirements.lock.txt: not a pin: {line!r}"
    assert "://" not in text and "--index-url" not in text and "--find-links" not in text
    assert str(Path.home()) not in text and str(ROOT) not in text
    pins = lock_pins()
    for name in MEMBER_NAMES:
        assert name not in pins, f"{name} is a workspace member, not a pin"
