"""Timing and reporting shared by every benchmark.

`best_of()` times a callable with `time.perf_counter`, garbage collection off during each
run (as `timeit` does), and keeps the fastest run; `best_of_interleaved()` does the same for
several callables, round-robin, so that rows compared with each other see the same load.

A `Table` is what a benchmark returns: a title, rows of `Measurement`s, and notes;
`Table.render()` turns it into plain text. Each row may name a floor row of the same table;
its "x floor" column is then its best time divided by the floor's (1.0 = as cheap as the
floor, 3.0 = three times its cost).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Config:
    """What the command line asked for."""

    quick: bool = False
    repeat: int = 5


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time in seconds of `repeat` calls of `fn` (after one untimed warm-up call)."""
    return best_of_interleaved({"": fn}, repeat)[""]


def best_of_interleaved(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Like `best_of` for several callables, timed round-robin (one run of each per round).

    Background load then hits every row alike, so the ratios between rows stay meaningful on a
    busy machine even when the absolute numbers do not.
    """
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    enabled = gc.isenabled()
    try:
        for _ in range(max(1, repeat)):
            for name, fn in fns.items():
                gc.collect()
                gc.disable()
                start = time.perf_counter()
                fn()
                elapsed = time.perf_counter() - start
                if enabled:
                    gc.enable()
                best[name] = min(best[name], elapsed)
    finally:
        if enabled:
            gc.enable()
    return best


@dataclass(frozen=True, slots=True)
class Measurement:
    """One row: `events` units of work done in `seconds` (best of N) over `nbytes` input."""

    name: str
    events: int  # units of work: decoded messages, requests, bytes...
    seconds: float
    nbytes: int = 0
    floor: str | None = None  # name of the row this one is compared with

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


@dataclass(slots=True)
class Table:
    title: str
    rows: list[Measurement] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (row name, why)
    notes: list[str] = field(default_factory=list)
    unit: str = "events"

    def add(self, row: Measurement) -> Measurement:
        self.rows.append(row)
        return row

    def skip(self, name: str, why: str) -> None:
        self.skipped.append((name, why))

    def render(self) -> str:
        by_name = {row.name: row for row in self.rows}
        header = ("path", self.unit, "best ms", f"{self.unit}/s", "MB/s", "x floor")
        lines: list[tuple[str, ...]] = [header]
        for row in self.rows:
            base = by_name.get(row.floor) if row.floor else None
            ratio = f"{row.seconds / base.seconds:.2f}" if base and base.seconds > 0 else "-"
            mbps = f"{row.nbytes / row.seconds / 1e6:.1f}" if row.nbytes and row.seconds > 0 else "-"
            lines.append(
                (row.name, f"{row.events:,}", f"{row.seconds * 1e3:.2f}", f"{row.rate:,.0f}", mbps, ratio)
            )
        for name, why in self.skipped:
            lines.append((name, "-", "-", "-", "-", f"skipped: {why}"))
        widths = [max(len(line[i]) for line in lines[: len(self.rows) + 1]) for i in range(len(header))]
        widths[0] = max(len(line[0]) for line in lines)
        out = [self.title, "-" * len(self.title)]
        for line in lines:
            cells = [line[0].ljust(widths[0])]
            if line[-1].startswith("skipped"):
                cells.append(line[-1])
            else:
                cells += [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
            out.append("  ".join(cells).rstrip())
        out += [f"  note: {note}" for note in self.notes]
        return "\n".join(out)
