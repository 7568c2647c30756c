"""Import boundaries: services meet only on the bus, libs never depend on a service.

- No service package imports another service package (gateway, token_broker, dashboard,
  kiro_oauth, kiro_sim): what two services share is a lib, what they say travels on the bus.
- No lib package (kiroproto, kiro_service, kiro_testing, kiro_admin) imports a service: the test
  kit starts a service as a process and talks to it over HTTP or the bus.

Every module under each member's src/ is parsed with `ast` (never imported), as
`libs/kiroproto/tests/test_purity.py` does for kiroproto's purity. Tests are not checked: a
test of one package may drive another.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from scripts import workspace
from tests.architecture.imports import Import, imports_under

ROOT = workspace.ROOT

# Crossings tolerated for now, as (importing package, imported package): none. An entry may only
# be added with an issue that removes it; the stale-entry test below keeps the list honest.
KNOWN_VIOLATIONS: frozenset[tuple[str, str]] = frozenset()


def _packages(kind: str) -> dict[str, workspace.Member]:
    """Import name -> member, for the members under `kind` ("libs" or "services")."""
    return {p: m for m in workspace.members() if m.relpath.startswith(f"{kind}/") for p in m.packages}


SERVICES = _packages("services")
LIBS = _packages("libs")


def crossings(package: str, member: workspace.Member) -> list[tuple[str, Import]]:
    """(imported package, import) for every import of `package` that crosses a boundary."""
    found: list[tuple[str, Import]] = []
    for imp in imports_under(member.src / package):
        target = imp.top
        if target == package or target not in SERVICES:
            continue  # itself, a lib (allowed from anywhere), stdlib or third-party
        found.append((target, imp))
    return found


def all_crossings() -> set[tuple[str, str]]:
    return {
        (package, target)
        for package, member in {**SERVICES, **LIBS}.items()
        for target, _ in crossings(package, member)
    }


def test_the_packages_are_found() -> None:
    assert {"gateway", "token_broker", "dashboard", "kiro_oauth", "kiro_sim"} <= set(SERVICES)
    assert {"kiroproto", "kiro_service", "kiro_testing"} <= set(LIBS)
    assert not set(SERVICES) & set(LIBS)


@pytest.mark.parametrize("package", sorted(SERVICES | LIBS))
def test_package_imports_no_service(package: str) -> None:
    member = SERVICES.get(package) or LIBS[package]
    kind = "service" if package in SERVICES else "lib"
    problems = [
        f"{imp.where(ROOT)}: {kind} {package} imports service {target} ({imp.module})"
        for target, imp in crossings(package, member)
        if (package, target) not in KNOWN_VIOLATIONS
    ]
    assert not problems, "\n".join(problems)


def test_known_violations_are_not_stale() -> None:
    """An entry of KNOWN_VIOLATIONS whose crossing is gone must be deleted (so none comes back)."""
    stale = sorted(KNOWN_VIOLATIONS - all_crossings())
    assert not stale, f"no longer crossing, remove from KNOWN_VIOLATIONS: {stale}"


def test_the_gateway_does_not_load_the_redis_client() -> None:
    """The gateway is stateless (pool and team state are the broker's, over the bus), so it does
    not even import the Redis client: a third of a second of every gateway's start."""
    code = (
        "import sys, gateway.__main__\n"
        "print(','.join(sorted(m for m in sys.modules if m.partition('.')[0] == 'redis')))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == ""
