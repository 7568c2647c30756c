"""The traffic view's data: per-bucket series and window totals, built from bucket counts (pure).

`build_snapshot` turns the buckets of the last hour into what the charts draw: requests per
second, error rate, latency and time-to-first-token percentiles, tokens in / out, and the same
per model and per team (the busiest `MAX_LABELS`, the rest folded into "other"). Empty buckets give
`None` for ratios and percentiles, so charts show gaps rather than fake zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from dashboard.traffic.buckets import BucketCounts, LabelCounts, merge, percentile

MAX_LABELS = 8
OTHER = "other"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Percentiles(_Model):
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class Totals(_Model):
    requests: int = 0
    errors: int = 0
    error_rate: float | None = None
    rps: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: Percentiles = Percentiles()
    ttft_ms: Percentiles = Percentiles()
    queue_ms: Percentiles = Percentiles()  # waiting for a lease, apart from upstream time and TTFT


class LabelSeries(_Model):
    requests: list[int]
    errors: list[int]
    input_tokens: list[int]
    output_tokens: list[int]
    total_requests: int
    total_errors: int


class CredentialTraffic(_Model):
    requests: int
    errors: int


class TrafficSnapshot(_Model):
    bucket_s: int
    window_s: int
    generated_at: float
    times: list[int]  # bucket starts, epoch seconds
    rps: list[float]
    error_rate: list[float | None]
    latency_p50: list[float | None]
    latency_p95: list[float | None]
    latency_p99: list[float | None]
    ttft_p50: list[float | None]
    ttft_p95: list[float | None]
    ttft_p99: list[float | None]
    queue_p50: list[float | None]
    queue_p95: list[float | None]
    queue_p99: list[float | None]
    tokens_in: list[int]
    tokens_out: list[int]
    models: dict[str, LabelSeries]
    teams: dict[str, LabelSeries]
    credentials: dict[str, CredentialTraffic]
    totals: Totals


def _percentiles(hist: Sequence[int]) -> Percentiles:
    return Percentiles(p50=percentile(hist, 0.50), p95=percentile(hist, 0.95), p99=percentile(hist, 0.99))


def _label_series(
    buckets: Sequence[BucketCounts], table: str, totals: dict[str, LabelCounts]
) -> dict[str, LabelSeries]:
    ranked = sorted(totals.items(), key=lambda item: (-item[1].requests, item[0]))
    keep = [name for name, _ in ranked[:MAX_LABELS]]
    folded = len(ranked) > MAX_LABELS
    names = keep + ([OTHER] if folded else [])
    out: dict[str, LabelSeries] = {}
    for name in names:
        per_bucket: list[LabelCounts] = []
        for bucket in buckets:
            labels: dict[str, LabelCounts] = getattr(bucket, table)
            if name == OTHER and folded:
                acc = LabelCounts()
                for label, counts in labels.items():
                    if label not in keep:
                        acc.add(counts)
                per_bucket.append(acc)
            else:
                per_bucket.append(labels.get(name, LabelCounts()))
        out[name] = LabelSeries(
            requests=[c.requests for c in per_bucket],
            errors=[c.errors for c in per_bucket],
            input_tokens=[c.input_tokens for c in per_bucket],
            output_tokens=[c.output_tokens for c in per_bucket],
            total_requests=sum(c.requests for c in per_bucket),
            total_errors=sum(c.errors for c in per_bucket),
        )
    return out


def group(
    starts: Sequence[int], buckets: Sequence[BucketCounts], step_s: int
) -> tuple[list[int], list[BucketCounts]]:
    """Merge consecutive buckets into `step_s` groups (histograms merge exactly, so percentiles stay
    honest: they are computed from the merged counts, never averaged)."""
    if len(starts) != len(buckets):
        raise ValueError("one bucket per start")
    grouped: dict[int, BucketCounts] = {}
    for start, bucket in zip(starts, buckets, strict=True):
        key = int(start // step_s) * step_s
        if key not in grouped:
            grouped[key] = BucketCounts()
        grouped[key].add(bucket)
    return list(grouped), list(grouped.values())


def build_snapshot(
    starts: Sequence[int], buckets: Sequence[BucketCounts], *, now: float, bucket_s: int
) -> TrafficSnapshot:
    """Series over `starts` (oldest first; the last one is the bucket still filling), each point
    `bucket_s` wide (after `group`, the group width)."""
    if len(starts) != len(buckets):
        raise ValueError("one bucket per start")
    rps: list[float] = []
    for start, bucket in zip(starts, buckets, strict=True):
        elapsed = min(float(bucket_s), max(1.0, now - start))  # the current bucket is partial
        rps.append(round(bucket.requests / elapsed, 4))
    total = merge(buckets)
    window_s = len(starts) * bucket_s
    covered = max(1.0, min(float(window_s), now - starts[0])) if starts else 1.0
    lat = [_percentiles(b.latency) for b in buckets]
    ttft = [_percentiles(b.ttft) for b in buckets]
    queue = [_percentiles(b.queue) for b in buckets]
    return TrafficSnapshot(
        bucket_s=bucket_s,
        window_s=window_s,
        generated_at=now,
        times=list(starts),
        rps=rps,
        error_rate=[round(b.errors / b.requests, 4) if b.requests else None for b in buckets],
        latency_p50=[p.p50 for p in lat],
        latency_p95=[p.p95 for p in lat],
        latency_p99=[p.p99 for p in lat],
        ttft_p50=[p.p50 for p in ttft],
        ttft_p95=[p.p95 for p in ttft],
        ttft_p99=[p.p99 for p in ttft],
        queue_p50=[p.p50 for p in queue],
        queue_p95=[p.p95 for p in queue],
        queue_p99=[p.p99 for p in queue],
        tokens_in=[b.input_tokens for b in buckets],
        tokens_out=[b.output_tokens for b in buckets],
        models=_label_series(buckets, "models", total.models),
        teams=_label_series(buckets, "teams", total.teams),
        credentials={
            name: CredentialTraffic(requests=c.requests, errors=c.errors)
            for name, c in total.credentials.items()
        },
        totals=Totals(
            requests=total.requests,
            errors=total.errors,
            error_rate=round(total.errors / total.requests, 4) if total.requests else None,
            rps=round(total.requests / covered, 4),
            input_tokens=total.input_tokens,
            output_tokens=total.output_tokens,
            latency_ms=_percentiles(total.latency),
            ttft_ms=_percentiles(total.ttft),
            queue_ms=_percentiles(total.queue),
        ),
    )
