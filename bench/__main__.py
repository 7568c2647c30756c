"""`python -m bench [--quick] [--repeat N] [--only NAME ...] [--list]`: run benchmarks, print tables.

To add a benchmark, write a module in `bench/` with a `run(config: Config) -> list[Table]`
function (see `bench/_harness.py` and `bench/stream_decode.py`) and add one line to
`BENCHMARKS` below. Modules are imported lazily, in order, so one benchmark's imports never
slow down or break another's listing.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench._harness import Config, Table


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    target: str  # "package.module:function", the function taking a Config
    summary: str

    def load(self) -> Callable[[Config], list[Table]]:
        module, _, function = self.target.partition(":")
        run: Callable[[Config], list[Table]] = getattr(importlib.import_module(module), function)
        return run


# The registry. Add new benchmarks here.
BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "stream_decode",
        "bench.stream_decode:run",
        "upstream event-stream bytes -> decoder -> Kiro events -> assembler -> SSE / chunks",
    ),
    Benchmark("gateway", "bench.gateway:run", "the real stack end to end vs calling the simulator directly"),
    Benchmark("large_bodies", "bench.large_bodies:run", "a large request body prepared inline vs in workers"),
    Benchmark("documents", "bench.documents:run", "PDF pages to text and page images, image scaling"),
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny workloads, 2 runs each (smoke test)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per measurement (best is kept)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    if args.list:
        for bench in BENCHMARKS:
            print(f"{bench.name:20} {bench.summary}")
        return 0
    selected = [b for b in BENCHMARKS if not args.only or b.name in args.only]
    unknown = set(args.only or ()) - {b.name for b in BENCHMARKS}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    repeat = args.repeat if args.repeat is not None else (2 if args.quick else 5)
    config = Config(quick=args.quick, repeat=repeat)
    python = (
        f"python {platform.python_version()} ({platform.python_implementation()}) on {platform.machine()}"
    )
    mode = "quick" if config.quick else "full"
    print(f"{python}, {mode} run, best of {config.repeat} (time.perf_counter, gc off while timing)")
    for bench in selected:
        started = time.perf_counter()
        tables = bench.load()(config)
        for table in tables:
            print()
            print(table.render())
        print(f"\n[{bench.name}: {time.perf_counter() - started:.1f} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
