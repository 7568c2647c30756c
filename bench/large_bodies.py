"""Benchmark: preparing a large `/v1/messages` body (parse, validation, conversion, serialisation,
token estimate: `gateway.prepare.prepare_messages`) inline on the event loop vs in the gateway's
worker processes (`gateway.offload.Offloader`), as `gateway.bodies` does from
GATEWAY_OFFLOAD_THRESHOLD_BYTES on.

For each size: the wall time of one preparation, the longest the event loop went without
running (a 5 ms ticker), and the CPU it cost the serving process and the workers (from /proc),
so the offloaded path's CPU is counted, not hidden. No network: the body and the loop are in
this process, the workers are the gateway's own pool.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time

import orjson
import uvloop

from bench._harness import Config, Table
from bench.gateway import Grid, cpu_seconds
from gateway.offload import Offloader
from gateway.prepare import prepare_messages
from kiroproto.models import ModelMap

_LINE = b"the quick brown fox jumps over a lazy dog while code returns values\n"


def body_of(megabytes: float) -> bytes:
    """A conversation of 256 KB turns of about `megabytes` MB (Claude-Code-like: long history)."""
    turn = (_LINE * (256 * 1024 // len(_LINE))).decode()
    count = max(2, int(megabytes * 1024 * 1024 / len(turn)))
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": turn} for i in range(count)]
    if messages[-1]["role"] == "user":
        messages.append({"role": "assistant", "content": "ok"})
    messages.append({"role": "user", "content": "hi"})
    return orjson.dumps({"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": messages})


def _workers_cpu() -> float:
    return sum(cpu_seconds(p.pid) or 0.0 for p in multiprocessing.active_children() if p.pid)


def _prepare_into(work: asyncio.Future[object], body: bytes, models: ModelMap) -> None:
    work.set_result(prepare_messages(body, models))


async def _worst_stall(work: asyncio.Future[object]) -> float:
    worst, last = 0.0, time.perf_counter()
    while not work.done():
        await asyncio.sleep(0.005)
        now = time.perf_counter()
        worst, last = max(worst, now - last - 0.005), now
    await work
    return worst


async def _measure(sizes: tuple[float, ...]) -> Table:
    table = Grid(
        "large bodies: prepare_messages inline vs in worker processes",
        header=("body", "path", "wall", "loop stall (worst)", "serving CPU", "worker CPU"),
    )
    models = ModelMap()
    offloader = Offloader(workers=2)
    loop = asyncio.get_running_loop()
    try:
        await offloader.run(prepare_messages, body_of(0.01), models)  # start the pool (untimed)
        for megabytes in sizes:
            body = body_of(megabytes)
            label = f"{len(body) / 1e6:.0f} MB"
            for path in ("inline", "workers"):
                cpu, workers, started = time.process_time(), _workers_cpu(), time.perf_counter()
                if path == "inline":
                    work: asyncio.Future[object] = loop.create_future()
                    loop.call_soon(_prepare_into, work, body, models)
                else:
                    work = asyncio.ensure_future(offloader.run(prepare_messages, body, models))
                stall = await _worst_stall(work)
                table.line(
                    label,
                    path,
                    f"{time.perf_counter() - started:.2f} s",
                    f"{stall * 1000:.0f} ms",
                    f"{time.process_time() - cpu:.2f} s",
                    f"{_workers_cpu() - workers:.2f} s",
                )
    finally:
        offloader.close()
    table.notes.append("serving CPU includes this process's ticker; worker CPU is read from /proc")
    return table


def run(config: Config) -> list[Table]:
    sizes = (1.0, 5.0) if config.quick else (1.0, 20.0, 95.0)
    return [uvloop.run(_measure(sizes))]
