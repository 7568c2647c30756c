"""Usage records and token metrics count all of a request's input, cached or not."""

from __future__ import annotations

from gateway.accounting import _usage_record
from kiroproto.bus import TeamKey
from kiroproto.stream.events import Usage


def test_cached_input_counts_in_the_usage_record() -> None:
    """Regression (found in review): with Kiro's metadataEvent, `input_tokens` is the uncached
    input only; team budgets and tpm counted just that, and missed every cache read."""
    key = TeamKey(id="key_1", team="t", hint="sk-kiro-…abcd", created_at=0.0)
    told = Usage(100, 20, 0.5, cache_read_input_tokens=9_000, cache_creation_input_tokens=400)
    record = _usage_record({"model": "claude-sonnet-4.6"}, key, "req_1", "ok", told)
    assert (record.input_tokens, record.output_tokens) == (9_500, 20)
    plain = _usage_record({}, key, "req_2", "ok", Usage(100, 20))
    assert plain.input_tokens == 100
