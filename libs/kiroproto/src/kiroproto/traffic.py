"""The traffic history's counters (pure): what a finished request adds, summed per second.

A gateway replica does not send one message per request: it adds each `FinishedRequest` to a
`TrafficTally` (integer counters per epoch second) and publishes what it holds about once a
second as one `kiroproto.bus.TrafficReport`; the dashboard adds the counters into its Redis
buckets (HINCRBY, so replicas and restarts never collide). The counter names:

    n, err, stream, in, out                 requests, errors, streamed, tokens in / out
    lat:{i}, ttft:{i}, queue:{i}            histogram counts (queue: waiting for a lease); bucket i
                                            covers values up to LATENCY_BOUNDS_MS[i] (the last
                                            index is the overflow)
    m|{model}|{n,err,in,out}                per requested model
    t|{team}|{n,err,in,out}                 per team (team keys)
    c|{credential}|{n,err}                  per credential (the pool view's "last hour")

Deliberately not here: the clock, the bus and Redis.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from kiroproto.bus import TrafficCounts

LATENCY_BOUNDS_MS: tuple[float, ...] = (
    10,
    25,
    50,
    100,
    200,
    300,
    500,
    750,
    1_000,
    1_500,
    2_000,
    3_000,
    5_000,
    7_500,
    10_000,
    15_000,
    20_000,
    30_000,
    45_000,
    60_000,
    90_000,
    120_000,
    180_000,
    300_000,
)
HISTOGRAM_SIZE = len(LATENCY_BOUNDS_MS) + 1  # + overflow
LABEL_MAX = 80


@dataclass(frozen=True, slots=True)
class FinishedRequest:
    """One finished client request, as the traffic history counts it."""

    at: float  # epoch seconds when the request finished
    api: Literal["anthropic", "openai"]
    model: str  # the model name the client asked for
    status: int  # HTTP status sent to the client (200 for streams that started)
    stream: bool
    duration_ms: float
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    error_type: str | None = None
    team: str | None = None
    credential_id: str | None = None
    queue_ms: float | None = None  # time spent waiting for leases

    @property
    def failed(self) -> bool:
        return self.status >= 400 or self.error_type is not None


def histogram_index(value_ms: float) -> int:
    return bisect.bisect_left(LATENCY_BOUNDS_MS, value_ms)


def safe_label(text: str) -> str:
    """A model / team / credential name usable inside a counter name (no `|`, no control chars)."""
    cleaned = "".join(ch if ch.isprintable() and ch != "|" else "_" for ch in text.strip())
    return cleaned[:LABEL_MAX] or "unknown"


def request_counts(request: FinishedRequest) -> dict[str, int]:
    """The counters one finished request adds (zeros left out)."""
    err = 1 if request.failed else 0
    tokens_in = max(0, request.input_tokens)
    tokens_out = max(0, request.output_tokens)
    out: dict[str, int] = {
        "n": 1,
        "err": err,
        "stream": 1 if request.stream else 0,
        "in": tokens_in,
        "out": tokens_out,
        f"lat:{histogram_index(max(0.0, request.duration_ms))}": 1,
    }
    for histogram, value in (("ttft", request.ttft_ms), ("queue", request.queue_ms)):
        if value is not None:
            out[f"{histogram}:{histogram_index(max(0.0, value))}"] = 1
    for kind, name in (("m", request.model), ("t", request.team)):
        if name:
            label = f"{kind}|{safe_label(name)}|"
            out.update(
                {label + "n": 1, label + "err": err, label + "in": tokens_in, label + "out": tokens_out}
            )
    if request.credential_id:
        label = f"c|{safe_label(request.credential_id)}|"
        out.update({label + "n": 1, label + "err": err})
    return {name: value for name, value in out.items() if value}


class TrafficTally:
    """Counters per epoch second of one replica, until they are taken to be published.

    `take()` empties it; `give_back()` returns what could not be published, to be sent with the
    next report. At most `max_seconds` distinct seconds are held (the oldest go first, counted
    in `dropped_requests`): a long bus outage costs the history's oldest seconds, not memory.
    """

    __slots__ = ("_seconds", "dropped_requests", "max_seconds")

    def __init__(self, max_seconds: int = 600) -> None:
        self._seconds: dict[int, Counter[str]] = {}
        self.max_seconds = max_seconds
        self.dropped_requests = 0

    def __len__(self) -> int:
        return len(self._seconds)

    def add(self, request: FinishedRequest) -> None:
        self._merge(int(request.at), request_counts(request))

    def take(self) -> list[TrafficCounts]:
        seconds, self._seconds = self._seconds, {}
        return [
            TrafficCounts(second=second, counts=dict(counts)) for second, counts in sorted(seconds.items())
        ]

    def give_back(self, seconds: list[TrafficCounts]) -> None:
        for entry in seconds:
            self._merge(entry.second, entry.counts)

    def _merge(self, second: int, counts: dict[str, int]) -> None:
        self._seconds.setdefault(second, Counter()).update(counts)
        while len(self._seconds) > self.max_seconds:
            oldest = min(self._seconds)
            self.dropped_requests += self._seconds.pop(oldest).get("n", 0)
