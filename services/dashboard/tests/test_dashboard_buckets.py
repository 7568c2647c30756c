"""Traffic bucket arithmetic: bucket starts, histograms, percentiles, snapshots (pure)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dashboard.traffic.buckets import (
    BucketCounts,
    bucket_start,
    bucket_starts,
    bucket_sums,
    merge,
    percentile,
)
from dashboard.traffic.snapshot import MAX_LABELS, OTHER, build_snapshot, group
from kiroproto.bus import TrafficCounts
from kiroproto.traffic import (
    HISTOGRAM_SIZE,
    LATENCY_BOUNDS_MS,
    FinishedRequest,
    histogram_index,
    request_counts,
    safe_label,
)

_REQUEST = FinishedRequest(
    at=1_000_005.0,
    api="anthropic",
    model="claude-sonnet-4-5",
    status=200,
    stream=True,
    duration_ms=420.0,
    ttft_ms=80.0,
    input_tokens=12,
    output_tokens=30,
    credential_id="cred-a",
)


def _event(**changes: Any) -> FinishedRequest:
    return dataclasses.replace(_REQUEST, **changes)


def test_bucket_starts() -> None:
    assert bucket_start(1_000_009.99, 10) == 1_000_000
    assert bucket_start(1_000_010.0, 10) == 1_000_010
    starts = bucket_starts(1_003_605.0, 3600, 10)
    assert len(starts) == 360
    assert starts[-1] == 1_003_600  # the bucket still filling
    assert starts[0] == 1_003_600 - 3590
    assert all(b - a == 10 for a, b in zip(starts, starts[1:], strict=False))
    grouped = bucket_starts(1_003_605.0, 3600, 10, step=30)
    assert grouped[0] % 30 == 0 and grouped[-1] == 1_003_600
    assert len(grouped) == 119 * 3 + 2  # 119 whole groups and the one filling (2 buckets so far)
    with pytest.raises(ValueError, match="multiple"):
        bucket_starts(0, 3600, 10, step=25)


def test_group_merges_histograms_before_percentiles() -> None:
    fast = _bucket(n=9, **{f"lat:{histogram_index(40)}": 9})
    slow = _bucket(n=1, **{f"lat:{histogram_index(4000)}": 1})
    points, merged = group([990, 1000, 1010, 1020], [fast, slow, BucketCounts(), fast], 30)
    assert points == [990, 1020]
    snap = build_snapshot(points, merged, now=1025.0, bucket_s=30)
    assert snap.totals.requests == 19
    assert snap.latency_p99[0] is not None and snap.latency_p50[0] is not None
    assert snap.latency_p50[0] <= 50 < snap.latency_p99[0]


def test_histogram_index_edges() -> None:
    assert histogram_index(0) == 0
    assert histogram_index(10) == 0  # upper bounds are inclusive
    assert histogram_index(10.01) == 1
    assert histogram_index(LATENCY_BOUNDS_MS[-1]) == len(LATENCY_BOUNDS_MS) - 1
    assert histogram_index(10**9) == len(LATENCY_BOUNDS_MS)  # overflow
    assert HISTOGRAM_SIZE == len(LATENCY_BOUNDS_MS) + 1


def test_percentile_interpolates_inside_the_bucket() -> None:
    counts = [0] * HISTOGRAM_SIZE
    counts[histogram_index(150)] = 100  # 100 values in (100, 200]
    assert percentile(counts, 0.5) == pytest.approx(150.0)
    assert percentile(counts, 0.99) == pytest.approx(199.0)
    assert percentile([0] * HISTOGRAM_SIZE, 0.5) is None


def test_percentile_across_buckets_and_overflow() -> None:
    counts = [0] * HISTOGRAM_SIZE
    counts[histogram_index(40)] = 90  # (25, 50]
    counts[histogram_index(10**7)] = 10  # overflow
    assert 25 < (percentile(counts, 0.5) or 0) <= 50
    assert percentile(counts, 0.95) == LATENCY_BOUNDS_MS[-1]
    assert percentile(counts, 0.90) == pytest.approx(50.0)


def test_request_counts_and_parse_round_trip() -> None:
    ok = request_counts(_event())
    assert ok["n"] == 1 and ok["stream"] == 1 and ok["in"] == 12 and ok["out"] == 30
    assert "err" not in ok  # zero counters are not written
    assert ok[f"lat:{histogram_index(420)}"] == 1 and ok[f"ttft:{histogram_index(80)}"] == 1
    assert ok["m|claude-sonnet-4-5|n"] == 1 and ok["c|cred-a|n"] == 1
    failed = request_counts(
        _event(
            status=529,
            error_type="overloaded_error",
            ttft_ms=None,
            team="blue",
            stream=False,
            credential_id=None,
        )
    )
    assert failed["err"] == 1 and failed["t|blue|err"] == 1
    assert not any(k.startswith("ttft:") for k in failed) and "stream" not in failed
    assert not any(k.startswith("c|") for k in failed)

    bucket = BucketCounts.from_hash({k: str(v) for k, v in ok.items()} | {"junk": "x", "m|bad": "1"})
    bucket.add(BucketCounts.from_hash({k: str(v) for k, v in failed.items()}))
    assert (bucket.requests, bucket.errors, bucket.streams) == (2, 1, 1)
    assert bucket.models["claude-sonnet-4-5"].requests == 2
    assert bucket.teams["blue"].errors == 1
    assert bucket.credentials["cred-a"].requests == 1
    assert sum(bucket.latency) == 2 and sum(bucket.ttft) == 1


def test_bucket_sums_adds_the_seconds_of_one_bucket() -> None:
    seconds = [
        TrafficCounts(second=1_000_001, counts={"n": 1, "in": 5}),
        TrafficCounts(second=1_000_009, counts={"n": 2}),
        TrafficCounts(second=1_000_010, counts={"n": 1}),
    ]
    assert bucket_sums(seconds, 10) == {1_000_000: {"n": 3, "in": 5}, 1_000_010: {"n": 1}}
    assert bucket_sums([], 10) == {}


def test_safe_label() -> None:
    assert safe_label("a|b\nc") == "a_b_c"
    assert safe_label("   ") == "unknown"
    assert len(safe_label("x" * 500)) == 80


def _bucket(**fields: int) -> BucketCounts:
    return BucketCounts.from_hash({k.replace("__", "|"): str(v) for k, v in fields.items()})


def test_snapshot_series_totals_and_gaps() -> None:
    starts = [1000, 1010, 1020]
    b0 = _bucket(n=10, err=1, **{"in": 100, "out": 200}, **{f"lat:{histogram_index(150)}": 10})
    b1 = BucketCounts()
    b2 = _bucket(n=3, **{f"lat:{histogram_index(900)}": 3, f"ttft:{histogram_index(40)}": 3})
    snap = build_snapshot(starts, [b0, b1, b2], now=1025.0, bucket_s=10)
    assert snap.times == starts
    assert snap.rps == [1.0, 0.0, 0.6]  # the current bucket divides by its 5 elapsed seconds
    assert snap.error_rate == [0.1, None, 0.0]
    assert snap.latency_p50[1] is None and snap.latency_p50[0] == pytest.approx(150.0)
    assert snap.ttft_p50[2] is not None and snap.ttft_p50[0] is None
    assert snap.tokens_in == [100, 0, 0] and snap.tokens_out == [200, 0, 0]
    assert snap.totals.requests == 13 and snap.totals.errors == 1
    assert snap.totals.error_rate == pytest.approx(1 / 13, abs=1e-4)
    assert snap.totals.latency_ms.p50 is not None


def test_snapshot_folds_quiet_models_into_other() -> None:
    buckets = [_bucket(**{f"m__model-{i}__n": i + 1 for i in range(MAX_LABELS + 3)})]
    snap = build_snapshot([1000], buckets, now=1010.0, bucket_s=10)
    assert len(snap.models) == MAX_LABELS + 1
    assert OTHER in snap.models
    assert snap.models[OTHER].total_requests == 1 + 2 + 3  # the three quietest
    assert "model-0" not in snap.models


def test_merge_and_length_check() -> None:
    total = merge([_bucket(n=1), _bucket(n=2)])
    assert total.requests == 3
    with pytest.raises(ValueError, match="one bucket per start"):
        build_snapshot([1, 2], [BucketCounts()], now=3, bucket_s=10)


def test_queue_wait_is_its_own_histogram() -> None:
    waited = request_counts(_event(queue_ms=2500.0))
    assert waited[f"queue:{histogram_index(2500)}"] == 1
    assert not any(k.startswith("queue:") for k in request_counts(_event()))  # never asked: no point
    bucket = BucketCounts.from_hash({k: str(v) for k, v in waited.items()})
    assert sum(bucket.queue) == 1 and sum(bucket.ttft) == 1 and sum(bucket.latency) == 1
    snap = build_snapshot([1000], [bucket], now=1005.0, bucket_s=10)
    assert snap.queue_p50[0] == snap.totals.queue_ms.p50
    assert snap.totals.queue_ms.p50 is not None and snap.totals.queue_ms.p50 > snap.totals.ttft_ms.p50  # type: ignore[operator]
