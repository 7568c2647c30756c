"""Failover by failure class, lease outcomes, pings and in-stream errors, with a scripted broker
and a fake Kiro at the httpx transport seam."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from gw_fakes import FakeBroker, FakeKiro, exception_frame, install, respond, text_events
from gw_helpers import AUTH, make_settings, running_client

from kiroproto.bus import DenialReason

MSG: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}
CHAT: dict[str, Any] = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}


def ok(*parts: str) -> Any:
    return lambda _: respond(text_events(*parts))


def status(code: int, message: str, reason: str | None = None, retry_after: str | None = None) -> Any:
    headers = {"retry-after": retry_after} if retry_after else {}
    return lambda _: httpx.Response(code, json={"message": message, "reason": reason}, headers=headers)


async def call(
    broker: FakeBroker, kiro: FakeKiro, path: str, body: dict[str, Any], **kw: Any
) -> httpx.Response:
    settings = make_settings()
    async with running_client(settings, lambda state: install(state, broker, kiro, **kw)) as client:
        return await client.post(path, json=body, headers=AUTH)


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        out.append((lines["event"], orjson.loads(lines["data"])))
    return out


async def test_non_streaming_success_reports_usage() -> None:
    broker, kiro = FakeBroker(), FakeKiro(ok("Hel", "lo"))
    response = await call(broker, kiro, "/v1/messages", MSG)
    assert response.status_code == 200
    body = response.json()
    assert body["content"] == [{"type": "text", "text": "Hello"}]
    assert body["stop_reason"] == "end_turn"
    assert broker.outcomes == ["success"]
    assert broker.releases[0].input_tokens == 2000  # 1 % of a 200k window
    assert broker.releases[0].credits == pytest.approx(0.01)
    sent = kiro.requests[0]
    assert sent.url.path == "/generateAssistantResponse"
    assert sent.headers["x-amzn-kiro-agent-mode"] == "vibe"
    assert "accept-encoding" not in sent.headers


async def test_account_429_is_left_to_the_broker_backoff() -> None:
    broker = FakeBroker()
    kiro = FakeKiro(status(429, "slow down", "USER_REQUEST_RATE_EXCEEDED", retry_after="9"), ok("fine"))
    response = await call(broker, kiro, "/v1/messages", MSG)
    assert response.json()["content"][0]["text"] == "fine"
    assert broker.outcomes == ["throttled", "success"]
    assert broker.releases[0].retry_after_s == 9.0
    assert broker.releases[0].reason == "USER_REQUEST_RATE_EXCEEDED"
    # not excluded: the broker's cooldown (never shorter than Retry-After) keeps it out
    assert broker.acquires == [(), ()]


async def test_model_capacity_is_retried_briefly_without_penalty() -> None:
    broker = FakeBroker()
    kiro = FakeKiro(status(429, "high traffic", "INSUFFICIENT_MODEL_CAPACITY"), ok("fine"))
    response = await call(broker, kiro, "/v1/messages", MSG)
    assert response.json()["content"][0]["text"] == "fine"
    assert broker.outcomes == ["model_capacity", "success"]
    assert broker.acquires == [(), ()]


async def test_model_capacity_then_529_with_its_retry_after() -> None:
    broker = FakeBroker()
    kiro = FakeKiro(status(429, "high traffic", "INSUFFICIENT_MODEL_CAPACITY"))
    response = await call(broker, kiro, "/v1/messages", MSG, max_attempts=5)
    assert response.status_code == 529
    assert broker.outcomes == ["model_capacity"] * 3  # one try and two short retries
    assert response.headers["retry-after"] == "2"
    kiro = FakeKiro(status(503, "busy", "SERVICE_REQUEST_RATE_EXCEEDED", retry_after="7"))
    response = await call(FakeBroker(), kiro, "/v1/chat/completions", CHAT, max_attempts=5)
    assert response.status_code == 503 and response.headers["retry-after"] == "7"
    assert len(kiro.requests) == 1  # a long Retry-After is no short retry: answered at once


async def test_no_credential_left_tells_the_real_wait_of_the_whole_pool() -> None:
    broker = FakeBroker(credentials=["only"], free_in=0.0)  # excluded here, free for a retry
    response = await call(broker, FakeKiro(status(500, "boom")), "/v1/messages", MSG, max_attempts=3)
    assert response.status_code == 529 and response.headers["retry-after"] == "1"
    assert broker.acquires == [(), ("only",)]
    unknown = FakeBroker(credentials=["only"])  # the pool status is unknown: the broker's answer
    response = await call(unknown, FakeKiro(status(500, "boom")), "/v1/messages", MSG, max_attempts=3)
    assert response.headers["retry-after"] == "30"


async def test_exhausted_attempts_tell_the_real_wait() -> None:
    broker = FakeBroker(free_in=2.4)
    kiro = FakeKiro(status(429, "slow down", "USER_REQUEST_RATE_EXCEEDED"))
    response = await call(broker, kiro, "/v1/messages", MSG, max_attempts=3)
    assert response.status_code == 529
    assert response.headers["retry-after"] == "3"


async def test_bearer_invalid_releases_with_fingerprint_and_retries_same_credential() -> None:
    broker = FakeBroker()
    kiro = FakeKiro(status(403, "The bearer token included in the request is invalid."), ok("again"))
    response = await call(broker, kiro, "/v1/messages", MSG)
    assert response.status_code == 200
    assert broker.outcomes == ["token_invalid", "success"]
    assert broker.releases[0].token_fingerprint == "fp-cred-a"
    assert broker.acquires == [(), ()]  # not excluded: the broker refreshes it


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (status(402, "You have reached the limit.", "MONTHLY_REQUEST_COUNT"), "quota_exhausted"),
        (status(403, "Your User ID temporarily is suspended."), "suspended"),
        (status(500, "unexpected", "MODEL_TEMPORARILY_UNAVAILABLE"), "model_capacity"),
        (status(500, "unexpected"), "server_error"),
    ],
)
async def test_each_class_is_reported_then_another_credential_serves(reply: Any, outcome: str) -> None:
    broker, kiro = FakeBroker(), FakeKiro(reply, ok("x"))
    response = await call(broker, kiro, "/v1/messages", MSG)
    assert response.status_code == 200
    assert broker.outcomes == [outcome, "success"]


async def test_network_error_fails_over() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    broker, kiro = FakeBroker(), FakeKiro(broken, ok("x"))
    assert (await call(broker, kiro, "/v1/messages", MSG)).status_code == 200
    assert broker.outcomes == ["network_error", "success"]


async def test_upstream_400_is_not_retried() -> None:
    broker, kiro = FakeBroker(), FakeKiro(status(400, "Improperly formed request."), ok("never"))
    response = await call(broker, kiro, "/v1/messages", MSG)
    assert response.status_code == 400
    assert "Improperly formed request." in response.json()["error"]["message"]
    assert broker.outcomes == ["bad_request"]
    assert len(kiro.requests) == 1


async def test_context_overflow_in_both_shapes() -> None:
    overflow = status(400, "Input is too long.", "CONTENT_LENGTH_EXCEEDS_THRESHOLD")
    response = await call(FakeBroker(), FakeKiro(overflow), "/v1/messages", MSG)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"].startswith("prompt is too long")
    response = await call(FakeBroker(), FakeKiro(overflow), "/v1/chat/completions", CHAT)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "context_length_exceeded"


async def test_attempts_are_capped_then_529() -> None:
    broker = FakeBroker(credentials=[f"c{i}" for i in range(10)])
    kiro = FakeKiro(status(500, "boom"))
    response = await call(broker, kiro, "/v1/messages", MSG, max_attempts=4)
    assert response.status_code == 529
    assert response.json()["error"]["type"] == "overloaded_error"
    assert int(response.headers["retry-after"]) >= 1
    assert len(kiro.requests) == 4
    assert broker.outcomes == ["server_error"] * 4


@pytest.mark.parametrize(
    ("reason", "path", "code", "error_type"),
    [
        (DenialReason.POOL_BUSY, "/v1/messages", 429, "rate_limit_error"),
        (DenialReason.NO_CREDENTIAL, "/v1/messages", 529, "overloaded_error"),
        (DenialReason.POOL_BUSY, "/v1/chat/completions", 429, "rate_limit_exceeded"),
        (DenialReason.NOT_CONFIGURED, "/v1/chat/completions", 503, "service_unavailable"),
    ],
)
async def test_lease_denials(reason: DenialReason, path: str, code: int, error_type: str) -> None:
    body = CHAT if "chat" in path else MSG
    response = await call(FakeBroker(denial=reason), FakeKiro(ok("x")), path, body)
    assert response.status_code == code
    assert response.json()["error"]["type"] == error_type
    assert response.headers["retry-after"] == "3"


async def test_exception_before_content_fails_over_in_a_stream() -> None:
    throttled = lambda _: respond([exception_frame("ThrottlingException", "slow down")])  # noqa: E731
    broker, kiro = FakeBroker(), FakeKiro(throttled, ok("after", " failover"))
    response = await call(broker, kiro, "/v1/messages", {**MSG, "stream": True})
    assert response.status_code == 200
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert "error" not in names
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == "after failover"
    assert broker.outcomes == ["throttled", "success"]


async def test_exception_after_content_is_an_in_stream_error() -> None:
    frames = [*text_events("partial")[:1], exception_frame("InternalServerException", "kaput")]
    broker, kiro = FakeBroker(), FakeKiro(lambda _: respond(frames))
    response = await call(broker, kiro, "/v1/messages", {**MSG, "stream": True})
    names = [name for name, _ in sse_events(response.text)]
    assert names[-1] == "error"
    assert "message_stop" not in names
    assert broker.outcomes == ["server_error"]
    response = await call(
        FakeBroker(), FakeKiro(lambda _: respond(frames)), "/v1/chat/completions", {**CHAT, "stream": True}
    )
    last = [line for line in response.text.splitlines() if line.startswith("data:")][-1]
    assert "error" in orjson.loads(last.removeprefix("data: "))


async def test_pings_during_upstream_silence_and_renewal() -> None:
    frames = text_events("a", "b")
    broker = FakeBroker()
    kiro = FakeKiro(lambda _: respond(frames, delay_before=1, delay=0.5))
    response = await call(broker, kiro, "/v1/messages", {**MSG, "stream": True}, ping_interval=0.1)
    names = [name for name, _ in sse_events(response.text)]
    assert names.count("ping") >= 2
    assert names[-1] == "message_stop"
    assert broker.outcomes == ["success"]


async def test_openai_streaming_with_usage() -> None:
    broker, kiro = FakeBroker(), FakeKiro(ok("Hi", " there"))
    response = await call(
        broker,
        kiro,
        "/v1/chat/completions",
        {**CHAT, "stream": True, "stream_options": {"include_usage": True}},
    )
    data = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [orjson.loads(d) for d in data[:-1]]
    assert (
        "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "Hi there"
    )
    assert chunks[-1]["usage"]["prompt_tokens"] == 2000


async def test_non_streaming_failure_after_content_still_fails_over() -> None:
    frames = [*text_events("partial")[:1], exception_frame("ThrottlingException", "later")]
    broker, kiro = FakeBroker(), FakeKiro(lambda _: respond(frames), ok("whole"))
    response = await call(broker, kiro, "/v1/messages", MSG)
    assert response.json()["content"][0]["text"] == "whole"
    assert broker.outcomes == ["throttled", "success"]


async def test_releases_are_never_lost_under_concurrency() -> None:
    broker, kiro = FakeBroker(), FakeKiro(ok("x"))
    settings = make_settings()
    async with running_client(settings, lambda state: install(state, broker, kiro)) as client:
        responses = await asyncio.gather(
            *(
                client.post("/v1/messages", json={**MSG, "stream": i % 2 == 0}, headers=AUTH)
                for i in range(20)
            )
        )
    assert all(r.status_code == 200 for r in responses)
    assert broker.outcomes == ["success"] * 20
