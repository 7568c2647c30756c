"""Traffic history arithmetic: time buckets, fixed latency histograms, percentiles (pure).

One Redis hash per `TRAFFIC_BUCKET_S`-second bucket holds integer counters, the sums of the
gateways' `TrafficReport`s (the counter names are `kiroproto.traffic`'s; HINCRBY only, so any
number of dashboard replicas can write concurrently and nothing is lost on a restart).

Percentiles come from the merged histograms by linear interpolation inside the bucket that holds
the rank. Deliberately not here: Redis and NATS (see `store.py`, `recorder.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kiroproto.bus import TrafficCounts
from kiroproto.traffic import HISTOGRAM_SIZE, LATENCY_BOUNDS_MS


def bucket_start(at: float, width: int) -> int:
    return int(at // width) * width


def bucket_sums(seconds: Iterable[TrafficCounts], width: int) -> dict[int, dict[str, int]]:
    """A report's per-second counters summed per bucket (bucket start -> counter -> amount)."""
    sums: dict[int, dict[str, int]] = {}
    for entry in seconds:
        bucket = sums.setdefault(bucket_start(entry.second, width), {})
        for name, amount in entry.counts.items():
            bucket[name] = bucket.get(name, 0) + amount
    return sums


def bucket_starts(now: float, window_s: int, width: int, step: int | None = None) -> list[int]:
    """The starts of every bucket of the last `window_s` seconds, oldest first, current included.

    With `step` (a multiple of `width`), the window begins on a step boundary, so that groups of
    `step // width` buckets are whole (`window_s // step` groups, the last one still filling).
    """
    step = step or width
    if step % width:
        raise ValueError("step must be a multiple of the bucket width")
    last = bucket_start(now, width)
    first = bucket_start(now, step) - step * (max(1, window_s // step) - 1)
    return list(range(first, last + 1, width))


def percentile(counts: Sequence[int], q: float) -> float | None:
    """Estimated q-quantile (0 < q <= 1) of a histogram over LATENCY_BOUNDS_MS; None when empty."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count <= 0:
            continue
        if seen + count >= rank:
            lower = LATENCY_BOUNDS_MS[index - 1] if index > 0 else 0.0
            if index >= len(LATENCY_BOUNDS_MS):
                return float(lower)  # overflow bucket: no upper bound to interpolate towards
            upper = LATENCY_BOUNDS_MS[index]
            fraction = (rank - seen) / count
            return float(lower + (upper - lower) * fraction)
        seen += count
    return float(LATENCY_BOUNDS_MS[-1])


@dataclass(slots=True)
class LabelCounts:
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, other: LabelCounts) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens


_LABEL_FIELDS = {"n": "requests", "err": "errors", "in": "input_tokens", "out": "output_tokens"}
_LABEL_KINDS = {"m": "models", "t": "teams", "c": "credentials"}
_BUCKET_FIELDS = {**_LABEL_FIELDS, "stream": "streams"}


@dataclass(slots=True)
class BucketCounts(LabelCounts):
    """One time bucket: the totals (a `LabelCounts`), streams, the histograms, and the counts per
    model, team and credential."""

    streams: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_SIZE)
    ttft: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_SIZE)
    queue: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_SIZE)  # lease wait
    models: dict[str, LabelCounts] = field(default_factory=dict)
    teams: dict[str, LabelCounts] = field(default_factory=dict)
    credentials: dict[str, LabelCounts] = field(default_factory=dict)

    @classmethod
    def from_hash(cls, fields: Mapping[str, str]) -> BucketCounts:
        """Parse a bucket hash; unknown or malformed fields are ignored."""
        counts = cls()
        for key, raw in fields.items():
            try:
                value = int(raw)
            except (TypeError, ValueError):
                continue
            counts._apply(key, value)
        return counts

    def _apply(self, key: str, value: int) -> None:
        if key in _BUCKET_FIELDS:
            setattr(self, _BUCKET_FIELDS[key], getattr(self, _BUCKET_FIELDS[key]) + value)
            return
        if key.startswith(("lat:", "ttft:", "queue:")):
            name, _, index_text = key.partition(":")
            if index_text.isdigit() and int(index_text) < HISTOGRAM_SIZE:
                target = {"lat": self.latency, "ttft": self.ttft, "queue": self.queue}[name]
                target[int(index_text)] += value
            return
        parts = key.split("|")
        if len(parts) == 3 and parts[0] in _LABEL_KINDS and parts[2] in _LABEL_FIELDS:
            table: dict[str, LabelCounts] = getattr(self, _LABEL_KINDS[parts[0]])
            entry = table.setdefault(parts[1], LabelCounts())
            attr = _LABEL_FIELDS[parts[2]]
            setattr(entry, attr, getattr(entry, attr) + value)

    def add(self, other: LabelCounts) -> None:
        """Add another bucket (a bare `LabelCounts` adds its totals only)."""
        LabelCounts.add(self, other)  # not super(): a slots dataclass is a new class
        if not isinstance(other, BucketCounts):
            return
        self.streams += other.streams
        for i in range(HISTOGRAM_SIZE):
            self.latency[i] += other.latency[i]
            self.ttft[i] += other.ttft[i]
            self.queue[i] += other.queue[i]
        for mine, theirs in (
            (self.models, other.models),
            (self.teams, other.teams),
            (self.credentials, other.credentials),
        ):
            for name, counts in theirs.items():
                mine.setdefault(name, LabelCounts()).add(counts)


def merge(buckets: Iterable[BucketCounts]) -> BucketCounts:
    total = BucketCounts()
    for bucket in buckets:
        total.add(bucket)
    return total
