"""Truncated upstream answers (kiro-protocol.md §19.1): the metric, the log line, the failover."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest
from gw_fakes import FakeBroker, FakeKiro, install, respond, text_events
from gw_helpers import AUTH, make_settings, running_client

from gateway.deps import GatewayState
from kiroproto.eventstream import encode_event

MSG: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}


def no_trailer(*parts: str) -> Any:
    frames = [encode_event("assistantResponseEvent", orjson.dumps({"content": p})) for p in parts]
    return lambda _: respond(frames)


async def post(broker: FakeBroker, kiro: FakeKiro, body: dict[str, Any]) -> tuple[Any, float]:
    settings = make_settings()
    seen: dict[str, Any] = {}

    def patch(state: GatewayState) -> None:
        seen["metrics"] = state.metrics
        install(state, broker, kiro)

    async with running_client(settings, patch) as client:
        response = await client.post("/v1/messages", json=body, headers=AUTH)
        # a complete answer's lease is finished after the response (exchange._close_then_finish)
        await asyncio.wait_for(broker.released.wait(), 5.0)
        counted = seen["metrics"].registry.get_sample_value(
            "gateway_truncated_answers_total", {"model": "claude-sonnet-4.5"}
        )
        return response, counted or 0.0


@pytest.mark.parametrize("stream", [False, True])
async def test_truncated_answer_is_max_tokens_counted_and_logged(
    stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    broker, kiro = FakeBroker(), FakeKiro(no_trailer("Hel", "lo"))
    with caplog.at_level(logging.WARNING, logger="gateway.failover"):
        response, counted = await post(broker, kiro, {**MSG, "stream": stream})
    assert response.status_code == 200
    if stream:
        assert b'"stop_reason":"max_tokens"' in response.content
    else:
        assert response.json()["stop_reason"] == "max_tokens"
    assert counted == 1
    assert broker.outcomes == ["success"]
    assert any(r.getMessage() == "upstream answer truncated" for r in caplog.records)


@pytest.mark.parametrize("stream", [False, True])
async def test_contentless_truncated_answer_fails_over(stream: bool) -> None:
    broker, kiro = FakeBroker(), FakeKiro(no_trailer(""), lambda _: respond(text_events("ok")))
    response, counted = await post(broker, kiro, {**MSG, "stream": stream})
    assert response.status_code == 200
    assert broker.outcomes == ["server_error", "success"]
    assert counted == 0
    assert (b"ok" in response.content) if stream else response.json()["content"][0]["text"] == "ok"
