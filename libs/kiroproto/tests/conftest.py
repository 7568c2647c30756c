"""Shared test helpers for kiroproto: the golden event-stream fixtures.

The fixtures live beside this file, in `fixtures/` (see its README). Each `NAME.eventstream` is a
raw upstream body and `NAME.frames.json` its manifest (offset, total_length, headers in wire
order, payload_utf8 for every message).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SHARED_FIXTURES = Path(__file__).resolve().parent / "fixtures"

FIXTURE_NAMES = (
    "synthetic-content-length-exceeded",
    "synthetic-midstream-throttling",
    "synthetic-text-turn",
    "synthetic-thinking-turn",
    "synthetic-tool-turn",
)


@dataclass(frozen=True)
class Golden:
    """One fixture: the raw body and its manifest."""

    name: str
    data: bytes
    byte_length: int
    frames: tuple[dict[str, Any], ...]


def shared_fixtures_dir() -> Path:
    """The golden fixtures folder; fails (not skips) the test when it is missing."""
    if not SHARED_FIXTURES.is_dir():
        pytest.fail(f"golden fixtures not found at {SHARED_FIXTURES}")
    return SHARED_FIXTURES


def load_golden(name: str) -> Golden:
    folder = shared_fixtures_dir()
    manifest = json.loads((folder / f"{name}.frames.json").read_text(encoding="utf-8"))
    return Golden(
        name=name,
        data=(folder / f"{name}.eventstream").read_bytes(),
        byte_length=manifest["byte_length"],
        frames=tuple(manifest["frames"]),
    )


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    return shared_fixtures_dir()


@pytest.fixture(scope="session", params=FIXTURE_NAMES)
def golden(request: pytest.FixtureRequest) -> Golden:
    """Each shared fixture in turn (session-scoped, so hypothesis tests may use it)."""
    return load_golden(request.param)
