"""Benchmark: the gateway end to end (client -> gateway -> NATS -> broker -> Redis, then the
Kiro simulator), each figure next to calling the simulator directly in the same run.

The stack is real (`bench/_stack.py`): nats-server, redis-server (appendfsync always, as the
project deploys it), `python -m kiro_sim --chunking whole --log-level WARNING`, one token broker,
one gateway and the dashboard with LOG_LEVEL=WARNING, all on loopback, all sharing this machine with the load
client. "direct" is the very call the gateway makes upstream (the converted Kiro body, the same
headers, an access token of the same account), sent by the same client. "floor" is the client
against a minimal canned HTTP server: what the client and loopback TCP cost by themselves.

Tables:
- non-streaming, c=1 and c=32: a small `/v1/messages` ("hi" -> "Echo: hi"); latency p50/p99,
  requests/s, and what the gateway adds over direct (c=1: blocks of requests interleaved
  round-robin with direct and the floors, so background noise hits every row alike);
- streaming, c=1: time to first token (first `content_block_delta` through the gateway, first
  `assistantResponseEvent` frame direct) and what the gateway adds;
- event rate: one long answer (`<<sim:{"text_length": N, "chunking": "frame"}>>`, one frame
  per write), events per second through the gateway vs direct;
- CPU per request of every process during the c=32 runs (from /proc), and the gateway's RSS
  with many concurrent streams open (slow scripted answers);
- the goals of the project's performance paragraph, measured vs wanted.

"x direct" is always a cost ratio: the gateway's time (latency, or seconds per request at
c=32, or seconds per event) divided by direct's; 1.00 would be free.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import uvloop

from bench._harness import Config, Measurement, Table
from bench._stack import Bench, Client, Prepared, Timing, running_bench
from kiroproto.eventstream import EventStreamDecoder

CONCURRENCY = 32


HISTORY_ENTRIES = 2_000  # a long Claude Code session: 2,000 history entries of 5 MB in all
HISTORY_MB = 5.0
_WORDS = "the quick brown fox jumps over a lazy dog while code returns values; "


def history_body(entries: int = HISTORY_ENTRIES, megabytes: float = HISTORY_MB) -> dict[str, object]:
    """A non-streaming Messages body: `entries` alternating turns of `megabytes` MB, then "hi"."""
    per = int(megabytes * 1024 * 1024 / entries)
    text = (_WORDS * (per // len(_WORDS) + 1))[:per]
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": text} for i in range(entries)]
    messages.append({"role": "user", "content": "hi"})
    return {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": False, "messages": messages}


@dataclass(frozen=True, slots=True)
class Sizes:
    warmup: int  # requests per target before anything is timed
    block: int  # c=1: requests per target per round
    burst: int  # c=32: requests per target per round
    stream_block: int  # streaming c=1: requests per target per round
    long_text: int  # characters of the long answer (event rate)
    long_runs: int  # long answers per target per round
    streams: int  # concurrent slow streams for the memory figure
    stream_text: int  # characters of each slow stream
    stream_delay: float  # seconds between its frames
    large: int = 3  # large-history requests per target and round
    beside: int = 640  # small c=32 requests beside them (and alone, for the baseline)

    @classmethod
    def of(cls, config: Config) -> Sizes:
        if config.quick:
            return cls(150, 100, 640, 50, 5_000, 1, 200, 20, 0.2, 3, 640)
        return cls(200, 400, 4_000, 200, 20_000, 3, 1_000, 100, 0.3, 8, 2_000)


# --------------------------------------------------------------------------- tables


@dataclass(slots=True)
class Grid(Table):
    """A table with its own columns (first column left-aligned, the others right-aligned)."""

    header: tuple[str, ...] = ()
    lines: list[tuple[str, ...]] = field(default_factory=list)

    def line(self, *cells: str) -> None:
        self.lines.append(cells)

    def render(self) -> str:
        rows = [self.header, *self.lines]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.header))]
        out = [self.title, "-" * len(self.title)]
        for row in rows:
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
            out.append("  ".join(cells).rstrip())
        out += [f"  note: {note}" for note in self.notes]
        return "\n".join(out)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def sim_directive(**script: object) -> str:
    """The simulator's per-request script (services/kiro-sim/README.md, "Scripting")."""
    return "<<sim:" + json.dumps(script) + ">>"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


# --------------------------------------------------------------------------- load


@dataclass(slots=True)
class Target:
    name: str
    prepared: Prepared  # the request bytes, built once
    client: Client
    timings: list[Timing] = field(default_factory=list)
    rounds: list[tuple[int, float]] = field(default_factory=list)  # (requests, seconds)

    def totals(self) -> list[float]:
        return [t.total for t in self.timings]

    def firsts(self) -> list[float]:
        return [t.first_content for t in self.timings]

    def best_rate(self) -> float:
        return max(n / s for n, s in self.rounds)


async def sequential(target: Target, count: int, keep: bool = True) -> None:
    request, marker, call = target.prepared.request, target.prepared.marker, target.client.call
    timings: list[Timing] = []
    started = time.perf_counter()
    for _ in range(count):
        timings.append(await call(request, marker))
    elapsed = time.perf_counter() - started
    if keep:
        target.timings += timings
        target.rounds.append((count, elapsed))


async def concurrent(target: Target, count: int, concurrency: int, keep: bool = True) -> None:
    request, marker, call = target.prepared.request, target.prepared.marker, target.client.call
    timings: list[Timing] = []
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            timings.append(await call(request, marker))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if keep:
        target.timings += timings
        target.rounds.append((count, elapsed))


async def warm_up(target: Target, concurrency: int) -> None:
    """Open `concurrency` keep-alive connections and send an untimed burst through them."""
    await target.client.warm(concurrency)
    await concurrent(target, concurrency * 4, concurrency, keep=False)


async def interleaved(rounds: int, steps: list[Callable[[], Awaitable[None]]]) -> None:
    """Run each step once per round, round-robin, garbage collection off while timing."""
    enabled = gc.isenabled()
    try:
        for _ in range(max(1, rounds)):
            for step in steps:
                gc.collect()
                gc.disable()
                await step()
                if enabled:
                    gc.enable()
    finally:
        if enabled:
            gc.enable()


async def httpx_floor(port: int, count: int) -> list[float]:
    """The same canned answer through httpx.AsyncClient: what a heavier client would add."""
    out: list[float] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
        for _ in range(count // 4):
            await client.post("/", content=b"{}")
        for _ in range(count):
            started = time.perf_counter()
            response = await client.post("/", content=b"{}")
            out.append(time.perf_counter() - started)
            response.raise_for_status()
    return out


# --------------------------------------------------------------------------- /proc


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class CpuMeter:
    """CPU seconds used by each stack process (and this client) between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.used: dict[str, float] = {}
        self._start: dict[str, float | None] = {}
        self._client = 0.0

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._client = time.process_time()

    def stop(self) -> None:
        for name, pid in self.pids.items():
            before, after = self._start.get(name), cpu_seconds(pid)
            if before is not None and after is not None:
                self.used[name] = self.used.get(name, 0.0) + after - before
        self.used["load client"] = self.used.get("load client", 0.0) + time.process_time() - self._client


# --------------------------------------------------------------------------- the benchmark


def run(config: Config) -> list[Table]:
    sizes = Sizes.of(config)
    load_before = _load()
    started = time.perf_counter()
    with running_bench() as stack:
        startup = time.perf_counter() - started
        tables, parts = uvloop.run(_measure(stack, sizes, config))
    # the same c=32 load on a pool of 3 credentials x cap 3 (9 slots for 32 clients), own stack
    with running_bench(credentials=3, pool_max=3) as stack:
        saturated = uvloop.run(_saturated(stack, sizes, config, parts.c32.figures["rate"]))
    tables.insert(-1, saturated.table)
    tables.append(_goals(parts, saturated, sizes))
    tables[0].notes.append(f"stack start-up (7 processes + floor server): {startup:.1f} s")
    tables[-1].notes.append(
        f"load average (1 min) before / after the run: {load_before} / {_load()} on {os.cpu_count()} cores; "
        "other work on the machine inflates the absolute figures, the rows of a table share it"
    )
    return tables


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


@dataclass(slots=True)
class Parts:
    """The measurements the goals are read from."""

    c1: Result
    c32: Result
    ttft: Result
    events: Table
    peak: dict[str, float]
    cpu: dict[str, dict[str, float]]
    large: Result


# the product's own processes (the simulator, the floor server and the load client are not)
PRODUCT = ("gateway", "token-broker", "dashboard", "oauth", "redis-server", "nats-server")


async def _measure(stack: Bench, sizes: Sizes, config: Config) -> tuple[list[Table], Parts]:
    hi_direct, hi_gateway = stack.direct("hi"), stack.gateway("hi", stream=False)
    targets = {
        "floor": Target("floor", stack.floor(), Client(stack.floor_port)),
        "direct": Target("direct", hi_direct, Client(stack.sim_port)),
        "gateway": Target("gateway", hi_gateway, Client(stack.gateway_port)),
    }
    streaming = {
        "direct": Target("direct", stack.direct("hi"), Client(stack.sim_port)),
        "gateway": Target("gateway", stack.gateway("hi", stream=True), Client(stack.gateway_port)),
    }
    await _check_answers(stack)
    for target in [*targets.values(), *streaming.values()]:
        await sequential(target, sizes.warmup, keep=False)

    try:
        c1 = await _c1(targets, sizes, config)
        c32, cpu = await _c32(stack, sizes, config)
        ttft = await _ttft(streaming, sizes, config)
        events = await _event_rate(stack, sizes, config)
        memory, peak = await _memory(stack, sizes)
        large = await _large_history(stack, sizes, config)
    finally:
        for target in [*targets.values(), *streaming.values()]:
            target.client.close()
    cpu_table = _cpu_table(cpu)
    tables: list[Table] = [c1.table, c32.table, ttft.table, events, cpu_table, large.table, memory]
    return tables, Parts(c1, c32, ttft, events, peak, cpu, large)


async def _large_history(stack: Bench, sizes: Sizes, config: Config) -> Result:
    """A 5 MB, 2,000-entry history: what the gateway adds to it (converted and validated in its
    worker processes), and the p99 of small c=32 requests on the same gateway while it runs."""
    body = history_body()
    large = {
        "direct": Target("direct", stack.direct_json(body), Client(stack.sim_port)),
        "gateway": Target("gateway", stack.gateway_json(body), Client(stack.gateway_port)),
    }
    for target in large.values():
        await sequential(target, 1, keep=False)
    await interleaved(config.repeat, [functools.partial(sequential, t, sizes.large) for t in large.values()])
    small = Target("gateway", stack.gateway("hi", stream=False), Client(stack.gateway_port))
    beside = Target("gateway", stack.gateway("hi", stream=False), Client(stack.gateway_port))
    await small.client.warm(CONCURRENCY)
    await beside.client.warm(CONCURRENCY)
    await concurrent(small, sizes.beside, CONCURRENCY)  # alone: the baseline
    busy = Target("gateway", stack.gateway_json(body), Client(stack.gateway_port))
    stop = asyncio.Event()

    async def keep_large_running() -> None:
        while not stop.is_set():
            await sequential(busy, 1)

    runner = asyncio.create_task(keep_large_running())
    await asyncio.sleep(0.05)
    await concurrent(beside, sizes.beside, CONCURRENCY)
    stop.set()
    await runner
    for target in [*large.values(), small, beside, busy]:
        target.client.close()
    direct, gateway = large["direct"].totals(), large["gateway"].totals()
    d50, g50 = pct(direct, 0.5), pct(gateway, 0.5)
    alone99, beside99 = pct(small.totals(), 0.99), pct(beside.totals(), 0.99)
    table = Grid(
        f"gateway [large history]: {HISTORY_MB:g} MB, {HISTORY_ENTRIES:,} entries, non-streaming; "
        f"{config.repeat} rounds of {sizes.large} per row",
        header=("path", "requests", "p50 ms", "p99 ms", "+p50 ms"),
    )
    table.line(
        "direct: the converted body to the simulator", f"{len(direct)}", ms(d50), ms(pct(direct, 0.99)), "-"
    )
    table.line(
        "gateway: convert + validate + call",
        f"{len(gateway)}",
        ms(g50),
        ms(pct(gateway, 0.99)),
        ms(g50 - d50),
    )
    table.line(
        f"small requests c={CONCURRENCY}, alone",
        f"{len(small.timings):,}",
        ms(pct(small.totals(), 0.5)),
        ms(alone99),
        "-",
    )
    table.line(
        f"small requests c={CONCURRENCY}, beside large ones",
        f"{len(beside.timings):,}",
        ms(pct(beside.totals(), 0.5)),
        ms(beside99),
        "-",
    )
    table.notes.append(f"large requests sent while the small ones ran: {len(busy.timings)}")
    return Result(table, {"added_p50": g50 - d50, "small_p99_added": beside99 - alone99})


async def _saturated(stack: Bench, sizes: Sizes, config: Config, unsaturated: float) -> Result:
    """c=32 on a saturated pool: requests wait for one of 9 slots (no lease reuse while they do)."""
    target = Target("gateway", stack.gateway("hi", stream=False), Client(stack.gateway_port))
    await warm_up(target, CONCURRENCY)
    meter = CpuMeter(stack.pids())
    for _ in range(config.repeat):
        meter.start()
        await concurrent(target, sizes.burst, CONCURRENCY)
        meter.stop()
    target.client.close()
    rate = target.best_rate()
    requests = sum(n for n, _ in target.rounds)
    product = sum(used for name, used in meter.used.items() if name in PRODUCT) / requests
    totals = target.totals()
    table = Grid(
        f"gateway [non-streaming, c={CONCURRENCY}, saturated pool: 3 credentials x cap 3]: "
        f"{config.repeat} rounds of {sizes.burst:,} requests",
        header=("path", "p50 ms", "p99 ms", "best req/s", "x unsaturated", "product CPU ms/req"),
    )
    table.line(
        "gateway, 9 slots for 32 clients",
        ms(pct(totals, 0.5)),
        ms(pct(totals, 0.99)),
        f"{rate:,.0f}",
        f"{rate / unsaturated:.2f}",
        f"{product * 1e3:.3f}",
    )
    by_process = ", ".join(
        f"{name} {used / requests * 1e3:.2f}"
        for name, used in sorted(meter.used.items(), key=lambda x: -x[1])
    )
    table.notes.append(f"CPU ms per request by process: {by_process}")
    table.notes.append(
        "x unsaturated: requests/s against the c=32 row above (a pool with room); while requests "
        "wait, grants are not reused, so each request asks the broker and releases"
    )
    return Result(table, {"rate": rate, "ratio": rate / unsaturated, "product_cpu": product})


async def _check_answers(stack: Bench) -> None:
    """Untimed: every prepared request answers 200 with what it should."""
    gateway, sim = Client(stack.gateway_port), Client(stack.sim_port)
    try:
        timing = await gateway.call(stack.gateway("hi", stream=False).request, capture=True)
        direct = await sim.call(stack.direct("hi").request, capture=True)
    finally:
        gateway.close()
        sim.close()
    assert timing.body is not None
    answer = json.loads(timing.body)
    if answer.get("content", [{}])[0].get("text") != "Echo: hi":
        raise AssertionError(f"unexpected gateway answer: {timing.body[:300]!r}")
    assert direct.body is not None
    decoder = EventStreamDecoder()
    decoder.feed(direct.body)
    text = "".join(
        json.loads(m.payload)["content"]
        for m in decoder
        if m.headers.get(":event-type") == "assistantResponseEvent"
    )
    if text != "Echo: hi":
        raise AssertionError(f"unexpected simulator answer: {text!r}")


# ---- non-streaming


@dataclass(slots=True)
class Result:
    table: Grid
    figures: dict[str, float] = field(default_factory=dict)


_LABELS = {
    "floor": "floor: lean client -> canned answer",
    "direct": "direct: client -> simulator",
    "gateway": "gateway: client -> gateway (lease + simulator)",
}


def _latency_row(
    table: Grid, label: str, values: list[float], base: list[float] | None, middle: str, ratio: str
) -> None:
    """A row: the count, p50 and p99 of `values`, `middle`, what they add to `base`'s p50 and p99
    ("-" without a base), and `ratio`."""
    p50, p99 = pct(values, 0.5), pct(values, 0.99)
    added = ("-", "-") if base is None else (ms(p50 - pct(base, 0.5)), ms(p99 - pct(base, 0.99)))
    table.line(label, f"{len(values):,}", ms(p50), ms(p99), middle, *added, ratio)


async def _c1(targets: dict[str, Target], sizes: Sizes, config: Config) -> Result:
    block = sizes.block
    await interleaved(config.repeat, [functools.partial(sequential, t, block) for t in targets.values()])
    httpx_times = await httpx_floor(targets["floor"].client.port, block)
    direct, gateway = targets["direct"], targets["gateway"]
    d50, d99 = pct(direct.totals(), 0.5), pct(direct.totals(), 0.99)
    g50, g99 = pct(gateway.totals(), 0.5), pct(gateway.totals(), 0.99)
    table = Grid(
        f"gateway [non-streaming, c=1]: small /v1/messages, {config.repeat} rounds of {block:,} "
        "requests per row, interleaved",
        header=("path", "requests", "p50 ms", "p99 ms", "req/s", "+p50 ms", "+p99 ms", "x direct"),
    )
    for name, target in targets.items():
        totals = target.totals()
        rate = f"{len(totals) / sum(s for _, s in target.rounds):,.0f}"
        ratio = f"{pct(totals, 0.5) / d50:.2f}" if name != "floor" else "-"
        _latency_row(
            table, _LABELS[name], totals, direct.totals() if name == "gateway" else None, rate, ratio
        )
    httpx_rate = f"{len(httpx_times) / sum(httpx_times):,.0f}"
    _latency_row(table, "floor via httpx.AsyncClient (for scale)", httpx_times, None, httpx_rate, "-")
    table.notes.append(
        "lean client = asyncio.Protocol + httptools on uvloop, keep-alive, pre-built request bytes; "
        "the floor rows show its own cost (and httpx's, for scale)"
    )
    return Result(
        table, {"added_p50": g50 - d50, "added_p99": g99 - d99, "direct_p50": d50, "gateway_p50": g50}
    )


async def _c32(stack: Bench, sizes: Sizes, config: Config) -> tuple[Result, dict[str, dict[str, float]]]:
    targets = {
        "floor": Target("floor", stack.floor(), Client(stack.floor_port)),
        "direct": Target("direct", stack.direct("hi"), Client(stack.sim_port)),
        "gateway": Target("gateway", stack.gateway("hi", stream=False), Client(stack.gateway_port)),
    }
    for target in targets.values():
        await warm_up(target, CONCURRENCY)
    meters = {name: CpuMeter(stack.pids()) for name in ("direct", "gateway")}

    def step(target: Target) -> Callable[[], Awaitable[None]]:
        async def go() -> None:
            meter = meters.get(target.name)
            if meter is not None:
                meter.start()
            await concurrent(target, sizes.burst, CONCURRENCY)
            if meter is not None:
                meter.stop()

        return go

    await interleaved(config.repeat, [step(t) for t in targets.values()])
    for target in targets.values():
        target.client.close()
    direct, gateway = targets["direct"], targets["gateway"]
    table = Grid(
        f"gateway [non-streaming, c={CONCURRENCY}]: small /v1/messages, {config.repeat} rounds of "
        f"{sizes.burst:,} requests per row",
        header=("path", "requests", "p50 ms", "p99 ms", "best req/s", "+p50 ms", "+p99 ms", "x direct"),
    )
    for name, target in targets.items():
        base = direct.totals() if name == "gateway" else None
        ratio = f"{direct.best_rate() / target.best_rate():.2f}" if name != "floor" else "-"
        _latency_row(table, _LABELS[name], target.totals(), base, f"{target.best_rate():,.0f}", ratio)
    table.notes.append("x direct here: seconds per request at the best rate, gateway / direct")
    total_requests = {name: sum(n for n, _ in targets[name].rounds) for name in meters}
    cpu = {
        name: {proc: used / total_requests[name] for proc, used in meter.used.items()}
        for name, meter in meters.items()
    }
    figures = {"rate": gateway.best_rate(), "direct_rate": direct.best_rate()}
    return Result(table, figures), cpu


# ---- streaming


async def _ttft(targets: dict[str, Target], sizes: Sizes, config: Config) -> Result:
    await interleaved(
        config.repeat, [functools.partial(sequential, t, sizes.stream_block) for t in targets.values()]
    )
    direct, gateway = targets["direct"], targets["gateway"]
    d50 = pct(direct.firsts(), 0.5)
    table = Grid(
        f"gateway [streaming, c=1]: time to first token, {config.repeat} rounds of {sizes.stream_block:,} "
        "requests per row",
        header=(
            "path",
            "requests",
            "TTFT p50",
            "TTFT p99",
            "total p50",
            "+TTFT p50",
            "+TTFT p99",
            "x direct",
        ),
    )
    labels = {
        "direct": "direct: first assistantResponseEvent",
        "gateway": "gateway: first content_block_delta",
    }
    for name, target in targets.items():
        firsts = target.firsts()
        base = direct.firsts() if name == "gateway" else None
        middle, ratio = ms(pct(target.totals(), 0.5)), f"{pct(firsts, 0.5) / d50:.2f}"
        _latency_row(table, labels[name], firsts, base, middle, ratio)
    table.notes.append("times in ms from the request's first byte written; `stream: true`, answer `Echo: hi`")
    return Result(table, {"added_ttft_p50": pct(gateway.firsts(), 0.5) - d50})


def _count_frames(body: bytes) -> int:
    decoder = EventStreamDecoder()
    decoder.feed(body)
    count = sum(1 for m in decoder if m.headers.get(":event-type") == "assistantResponseEvent")
    decoder.close()
    return count


async def _event_rate(stack: Bench, sizes: Sizes, config: Config) -> Table:
    directive = sim_directive(text_length=sizes.long_text, chunking="frame")
    direct = Target("direct", stack.direct("go " + directive), Client(stack.sim_port))
    gateway = Target("gateway", stack.gateway("go " + directive, stream=True), Client(stack.gateway_port))
    body = (await direct.client.call(direct.prepared.request, capture=True)).body
    sse = (await gateway.client.call(gateway.prepared.request, capture=True)).body
    assert body is not None and sse is not None
    counts = {"direct": _count_frames(body), "gateway": sse.count(b"event: content_block_delta\n")}
    nbytes = {"direct": len(body), "gateway": len(sse)}
    await interleaved(
        config.repeat, [functools.partial(sequential, t, sizes.long_runs) for t in (direct, gateway)]
    )
    direct.client.close()
    gateway.client.close()
    table = Table(
        f"gateway [streaming, c=1]: event rate of one long answer ({sizes.long_text:,} characters, "
        f"one frame per write), best of {config.repeat * sizes.long_runs}",
        unit="events",
    )
    d_label, g_label = "direct: simulator frames", "gateway: SSE content_block_delta"
    table.add(Measurement(d_label, counts["direct"], min(direct.totals()), nbytes["direct"]))
    table.add(Measurement(g_label, counts["gateway"], min(gateway.totals()), nbytes["gateway"], d_label))
    medians = {t.name: statistics.median(t.totals()) for t in (direct, gateway)}
    table.notes.append(
        f"median ms: direct {medians['direct'] * 1e3:.1f}, gateway {medians['gateway'] * 1e3:.1f}; "
        "x floor = gateway time / direct time for the whole answer"
    )
    return table


async def _memory(stack: Bench, sizes: Sizes) -> tuple[Grid, dict[str, float]]:
    """Many slow streams at once through one gateway process: its RSS while they are open."""
    pid = stack.pids()["gateway"]
    idle = rss_mb(pid) or 0.0
    directive = sim_directive(text_length=sizes.stream_text, event_delay=sizes.stream_delay)
    prepared = stack.gateway("slow " + directive, stream=True)
    client = Client(stack.gateway_port)
    await client.warm(sizes.streams)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.sim_port}", trust_env=False) as control:
        (await control.post("/_sim/stats/reset")).raise_for_status()
        peak_rss = idle
        done = False

        async def sample() -> None:
            nonlocal peak_rss
            while not done:
                peak_rss = max(peak_rss, rss_mb(pid) or 0.0)
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        started = time.perf_counter()
        results = await asyncio.gather(
            *(client.call(prepared.request, prepared.marker, capture=True) for _ in range(sizes.streams)),
            return_exceptions=True,
        )
        elapsed = time.perf_counter() - started
        done = True
        await sampler
        stats = (await control.get("/_sim/stats", params={"bodies": "false"})).json()
    client.close()
    failed = [r for r in results if isinstance(r, BaseException)]
    peak_streams = int(stats["totals"]["peak_open_streams"])
    table = Grid(
        f"gateway [memory]: {sizes.streams:,} concurrent slow streams "
        f"(a frame every {sizes.stream_delay:g} s)",
        header=("figure", "value"),
    )
    table.line("gateway RSS before, MB", f"{idle:.1f}")
    table.line("gateway RSS peak while streaming, MB", f"{peak_rss:.1f}")
    table.line("most streams open at once upstream", f"{peak_streams:,}")
    table.line("streams completed / failed", f"{len(results) - len(failed):,} / {len(failed):,}")
    table.line("wall time, s", f"{elapsed:.1f}")
    if failed:
        table.notes.append(f"first failure: {failed[0]!r}")
    return table, {"rss": peak_rss, "streams": float(peak_streams)}


def _cpu_table(cpu: dict[str, dict[str, float]]) -> Grid:
    table = Grid(
        f"gateway [CPU per request, c={CONCURRENCY}]: ms of CPU per request by process (/proc utime+stime)",
        header=("process", "direct", "gateway"),
    )
    names = list(cpu["gateway"])
    for name in names:
        table.line(name, f"{cpu['direct'].get(name, 0.0) * 1e3:.3f}", f"{cpu['gateway'][name] * 1e3:.3f}")
    table.line(
        "total", f"{sum(cpu['direct'].values()) * 1e3:.3f}", f"{sum(cpu['gateway'].values()) * 1e3:.3f}"
    )
    cores = os.cpu_count() or 1
    table.notes.append(
        f"{cores} cores: a total of T ms per request caps the whole machine near {cores}000/T req/s"
    )
    return table


def _goals(parts: Parts, saturated: Result, sizes: Sizes) -> Grid:
    c1, c32, ttft, events, peak = parts.c1, parts.c32, parts.ttft, parts.events, parts.peak
    table = Grid(
        "gateway [goals]: measured in this run vs the performance goals",
        header=("goal", "wanted", "measured", "met"),
    )

    def row(goal: str, wanted: str, text: str, ok: bool | None) -> None:
        table.line(goal, wanted, text, "n/a" if ok is None else "yes" if ok else "no")

    added = c1.figures["added_p50"]
    row("added p50 latency, c=1", "<= 1 ms", f"{added * 1e3:.2f} ms", added <= 0.001)
    product = sum(v for name, v in parts.cpu["gateway"].items() if name in PRODUCT)
    row(
        f"CPU per request of the product's processes, c={CONCURRENCY}",
        "<= 1 ms",
        f"{product * 1e3:.3f} ms",
        product <= 0.001,
    )
    large = parts.large.figures
    added_large = large["added_p50"]
    row(
        f"{HISTORY_MB:g} MB, {HISTORY_ENTRIES:,}-entry history: added p50",
        "<= 50 ms",
        f"{added_large * 1e3:.1f} ms",
        added_large <= 0.05,
    )
    beside = large["small_p99_added"]
    row(
        f"small-request p99 (c={CONCURRENCY}) beside it: added",
        "<= 50 ms",
        f"{beside * 1e3:.1f} ms",
        beside <= 0.05,
    )
    ratio = saturated.figures["ratio"]
    row("saturated pool vs one with room, c=32 req/s", ">= 0.9x", f"{ratio:.2f}x", ratio >= 0.9)
    rate = c32.figures["rate"]
    row(f"requests/s through the stack, c={CONCURRENCY}", ">= 1,000", f"{rate:,.0f}", rate >= 1000)
    first = ttft.figures["added_ttft_p50"]
    row("added time to first token, p50", "<= 2 ms", f"{first * 1e3:.2f} ms", first <= 0.002)
    rss = peak["rss"]
    streams = int(peak["streams"])
    row(
        f"RSS with {sizes.streams:,} concurrent streams",
        "< 200 MB at 1,000",
        f"{rss:.0f} MB ({streams:,} open)",
        None if sizes.streams < 1000 else rss < 200 and streams >= 1000,
    )
    gateway_row = events.rows[1]
    table.notes.append(f"event rate through the gateway: {gateway_row.rate:,.0f} events/s")
    return table
