"""kiroproto.traffic: the counters of a finished request, and the per-second tally of a replica."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kiroproto.bus import TrafficCounts, TrafficReport
from kiroproto.traffic import FinishedRequest, TrafficTally, histogram_index, request_counts, safe_label


def _request(**changes: Any) -> FinishedRequest:
    base: dict[str, Any] = {
        "at": 1_000_005.25,
        "api": "anthropic",
        "model": "claude-sonnet-4-5",
        "status": 200,
        "stream": True,
        "duration_ms": 420.0,
        "ttft_ms": 80.0,
        "input_tokens": 12,
        "output_tokens": 30,
        "credential_id": "cred-a",
    }
    base.update(changes)
    return FinishedRequest(**base)


def test_request_counts_names_every_dimension() -> None:
    counts = request_counts(_request(team="blue", queue_ms=2500.0))
    assert counts["n"] == 1 and counts["stream"] == 1 and counts["in"] == 12 and counts["out"] == 30
    assert "err" not in counts  # zeros are left out
    assert counts[f"lat:{histogram_index(420)}"] == 1
    assert counts[f"ttft:{histogram_index(80)}"] == 1 and counts[f"queue:{histogram_index(2500)}"] == 1
    assert counts["m|claude-sonnet-4-5|in"] == 12 and counts["t|blue|out"] == 30
    assert counts["c|cred-a|n"] == 1 and "c|cred-a|in" not in counts


def test_a_failed_request_counts_as_an_error_everywhere() -> None:
    failed = request_counts(_request(status=200, error_type="stream_error", team="blue", credential_id=None))
    assert failed["err"] == 1 and failed["m|claude-sonnet-4-5|err"] == 1 and failed["t|blue|err"] == 1
    assert not any(name.startswith("c|") for name in failed)
    assert request_counts(_request(status=529))["err"] == 1
    assert _request(status=429).failed and not _request().failed


def test_labels_are_made_safe() -> None:
    counts = request_counts(_request(model="a|b\nc", input_tokens=-5))
    assert counts["m|a_b_c|n"] == 1 and "in" not in counts  # negative tokens count as none
    assert safe_label("   ") == "unknown" and len(safe_label("x" * 500)) == 80


def test_tally_sums_per_second_and_empties_when_taken() -> None:
    tally = TrafficTally()
    for at in (10.1, 10.9, 11.0):
        tally.add(_request(at=at))
    assert len(tally) == 2
    taken = tally.take()
    assert [entry.second for entry in taken] == [10, 11]
    assert taken[0].counts["n"] == 2 and taken[1].counts["n"] == 1
    assert len(tally) == 0 and tally.take() == []


def test_what_could_not_be_published_goes_into_the_next_report() -> None:
    tally = TrafficTally()
    tally.add(_request(at=10.0))
    unsent = tally.take()
    tally.add(_request(at=10.5))
    tally.add(_request(at=12.0))
    tally.give_back(unsent)
    assert [(entry.second, entry.counts["n"]) for entry in tally.take()] == [(10, 2), (12, 1)]


def test_the_tally_is_bounded_and_counts_what_it_drops() -> None:
    tally = TrafficTally(max_seconds=3)
    for second in range(5):
        tally.add(_request(at=float(second)))
        tally.add(_request(at=float(second)))
    assert [entry.second for entry in tally.take()] == [2, 3, 4]
    assert tally.dropped_requests == 4
    tally.give_back([TrafficCounts(second=0, counts={"n": 7})])  # older than all it holds: kept (room)
    assert tally.dropped_requests == 4 and len(tally) == 1


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=20, allow_nan=False),
            st.integers(min_value=100, max_value=599),
            st.integers(min_value=0, max_value=10_000),
            st.sampled_from(["m1", "m2", "claude|x"]),
        ),
        max_size=40,
    )
)
def test_a_report_holds_exactly_the_sum_of_its_requests(rows: list[tuple[float, int, int, str]]) -> None:
    requests = [
        _request(at=at, status=status, input_tokens=tokens, model=model) for at, status, tokens, model in rows
    ]
    tally = TrafficTally()
    expected: Counter[str] = Counter()
    for request in requests:
        tally.add(request)
        expected.update(request_counts(request))
    report = TrafficReport(replica="r", seconds=tally.take())
    again = TrafficReport.model_validate_json(report.model_dump_json())
    total: Counter[str] = Counter()
    for entry in again.seconds:
        total.update(entry.counts)
    assert total == expected
    assert total["n"] == len(requests)
