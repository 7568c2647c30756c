"""Large bodies (bodies.py, prepare.py, offload.py): the Kiro body spliced per credential, the
budget of large bodies in flight, results and errors that cross the process boundary intact,
and a real worker round trip."""

from __future__ import annotations

import pickle
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.bodies import BodyBudget, BodyTicket
from gateway.errors import InvalidRequest, RateLimited
from gateway.exchange import KiroBody
from gateway.media.prepare import NeedsWorker
from gateway.offload import Offloader
from gateway.prepare import SampledEstimator, count_tokens, prepare_chat, prepare_messages
from kiroproto.bus import LeaseGrant
from kiroproto.models import ModelMap
from kiroproto.tokens import EstimatingTokenCounter

MSG = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(
    wire=st.dictionaries(st.text(max_size=12).filter(lambda k: k != "profileArn"), json_values, max_size=6),
    arn=st.none() | st.text(max_size=80),
)
def test_kiro_body_adds_the_profile_arn_to_the_serialised_body(wire: dict[str, Any], arn: str | None) -> None:
    body = KiroBody(orjson.dumps(wire))
    grant = LeaseGrant(
        lease_id="l1", credential_id="c1", auth="Social", access_token="t", token_fingerprint="f",
        profile_arn=arn, region="us-east-1", machine_id="m" * 64, lease_ttl_s=60,
    )  # fmt: skip
    expected = {**wire, "profileArn": arn} if arn else wire
    assert orjson.loads(body(grant)) == expected
    assert body(grant) is body(grant)  # built once per credential


def test_budget_refuses_only_beyond_the_cap_and_never_a_lone_body() -> None:
    budget = BodyBudget(threshold=10, cap=100)
    alone = BodyTicket(budget)
    alone.grow_to(500)  # larger than the cap, but nothing else is in flight
    with pytest.raises(RateLimited) as refused:
        BodyTicket(budget).grow_to(10)
    assert refused.value.retry_after is not None and refused.value.retry_after >= 1
    alone.release()
    first, second = BodyTicket(budget), BodyTicket(budget)
    first.grow_to(60)
    second.grow_to(40)
    with pytest.raises(RateLimited):
        second.grow_to(41)
    assert budget.in_flight == 100
    first.release()
    second.release()
    assert budget.in_flight == 0


def test_prepared_results_and_errors_pickle() -> None:
    models = ModelMap()
    prepared = prepare_messages(orjson.dumps(MSG), models)
    again = pickle.loads(pickle.dumps(prepared))
    assert again == prepared and orjson.loads(again.body)["conversationState"]
    counted = count_tokens(orjson.dumps({"model": MSG["model"], "messages": MSG["messages"]}), models)
    assert pickle.loads(pickle.dumps(counted)) == counted
    chat = prepare_chat(
        orjson.dumps({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}), models
    )
    assert pickle.loads(pickle.dumps(chat)).requested == "claude-sonnet-4-5"
    with pytest.raises(InvalidRequest) as bad:
        prepare_messages(b"{", models)
    error = pickle.loads(pickle.dumps(bad.value))
    assert type(error) is InvalidRequest and error.message == bad.value.message and error.status == 400


def test_sampled_estimate_is_close_and_exact_below_its_limit() -> None:
    text = "the quick brown fox jumps over the lazy dog; return value + 42\n" * 60_000  # ~3.8 M chars
    exact = EstimatingTokenCounter().count_text(text)
    sampled = SampledEstimator().count_text(text)
    assert abs(sampled - exact) / exact < 0.02
    short = text[:100_000]
    assert SampledEstimator().count_text(short) == EstimatingTokenCounter().count_text(short)


async def test_a_worker_prepares_and_raises_like_inline() -> None:
    offloader = Offloader(workers=1)
    models = ModelMap()
    try:
        prepared = await offloader.run(prepare_messages, orjson.dumps(MSG), models)
        inline = prepare_messages(orjson.dumps(MSG), models)
        assert (prepared.requested, prepared.model, prepared.options) == (
            inline.requested,
            inline.model,
            inline.options,
        )
        current = orjson.loads(prepared.body)["conversationState"]["currentMessage"]
        assert current["userInputMessage"]["content"] == "hi"  # the ids are fresh uuids
        with pytest.raises(InvalidRequest, match="not valid JSON"):
            await offloader.run(prepare_messages, b"{", models)
    finally:
        offloader.close()


async def test_media_found_on_the_event_loop_goes_to_a_worker() -> None:
    """Regression (found in review): an escaped `\\u0062ase64` hides base64 data from
    `needs_worker`; the preparation then found the image on the event loop and called
    `asyncio.run` there (a 500). Now it says so, and bodies.prepare runs it in a worker."""
    image = {"type": "image", "source": {"type": "\\u0062ase64", "media_type": "image/png", "data": "iVBO"}}
    body = (
        b'{"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": ['
        + orjson.dumps(image).replace(b"\\\\u0062", b"\\u0062")
        + b"]}]}"
    )
    source = orjson.loads(body)["messages"][0]["content"][0]["source"]
    assert b"base64" not in body and source["type"] == "base64"
    with pytest.raises(NeedsWorker):
        prepare_messages(body, ModelMap())
