"""The request's record and what it implies: usage records, usage outcomes, the traffic entry."""

from __future__ import annotations

import pytest

from gateway.limits import TeamTicket
from gateway.record import RECORD_KEY, RequestRecord, finished_request, record_of, usage_outcome, usage_record
from kiroproto.bus import Admission, TeamKey
from kiroproto.stream.events import Usage

KEY = TeamKey(id="key_1", team="t", hint="sk-kiro-…abcd", created_at=0.0)


def _record(**changes: object) -> RequestRecord:
    record = RequestRecord(request_id="req_1", route="messages", started=0.0)
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def test_cached_input_counts_in_the_usage_record() -> None:
    """Regression (found in review): with Kiro's metadataEvent, `input_tokens` is the uncached
    input only; team budgets and tpm counted just that, and missed every cache read."""
    told = Usage(100, 20, 0.5, cache_read_input_tokens=9_000, cache_creation_input_tokens=400)
    record = usage_record(_record(model="claude-sonnet-4.6"), KEY, "ok", told)
    assert (record.input_tokens, record.output_tokens, record.model) == (9_500, 20, "claude-sonnet-4.6")
    plain = usage_record(_record(), KEY, "ok", Usage(100, 20))
    assert plain.input_tokens == 100 and plain.model == "unknown" and plain.request_id == "req_1"


def test_usage_outcome_follows_status_stream_and_ticket() -> None:
    assert usage_outcome(_record(status=200, usage=Usage(1, 1))) == "ok"
    assert usage_outcome(_record(status=200)) == "error"  # no usage: nothing was answered
    assert usage_outcome(_record(status=200, usage=Usage(1, 1), stream_failed=True)) == "error"
    assert usage_outcome(_record(status=0)) == "error"
    assert usage_outcome(_record(status=403)) == "rejected"
    ticket = TeamTicket(KEY, Admission(key_id=KEY.id, team=KEY.team), rejected=True)
    assert usage_outcome(_record(status=429, ticket=ticket)) == "rejected"


def test_lease_waits_add_up_and_the_traffic_entry_carries_them() -> None:
    record = _record(status=529, route="chat_completions", requested_model="gpt-4o", key=KEY)
    assert record.queue_ms is None
    record.waited(0.25)
    record.waited(0.5)
    entry = finished_request(record, elapsed_s=1.0)
    assert entry.queue_ms == 750.0 and entry.duration_ms == 1000.0
    assert (entry.api, entry.model, entry.team, entry.error_type) == (
        "openai",
        "gpt-4o",
        "t",
        "overloaded_error",
    )
    streamed = finished_request(_record(status=200, stream=True, stream_failed=True), 0.1)
    assert streamed.error_type == "stream_error" and streamed.api == "anthropic"


def test_record_of_reads_the_scope() -> None:
    record = _record()
    assert record_of({"type": "http", "state": {RECORD_KEY: record}}) is record
    with pytest.raises(LookupError):
        record_of({"type": "http", "state": {}})
