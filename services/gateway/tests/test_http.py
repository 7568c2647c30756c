"""The HTTP surface in-process: auth, validation messages, body limit, error shapes, models,
count_tokens, health, and 529/503 (never a hang) while the bus is down."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest
from anthropic.types import ModelInfo as AnthropicModelInfo
from gw_helpers import ADMIN_TOKEN, AUTH, CLIENT_TOKEN, make_settings, running_client
from openai.types import Model as OpenAIModel

from kiro_testing import free_port

MSG = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
CHAT = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}


def anthropic_error(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert response.headers["request-id"].startswith("req_")
    return str(body["error"]["message"])


def openai_error(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["type"] == error_type
    return str(body["error"]["message"])


# ------------------------------------------------------------------ auth


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": "wrong"},
        {"authorization": "Bearer wrong"},
        {"authorization": f"Basic {CLIENT_TOKEN}"},
    ],
)
async def test_wrong_or_missing_key(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    anthropic_error(await client.post("/v1/messages", json=MSG, headers=headers), 401, "authentication_error")
    openai_error(
        await client.post("/v1/chat/completions", json=CHAT, headers=headers), 401, "invalid_api_key"
    )
    anthropic_error(await client.get("/v1/models", headers=headers), 401, "authentication_error")


@pytest.mark.parametrize(
    "headers", [{"x-api-key": CLIENT_TOKEN}, {"authorization": f"Bearer {CLIENT_TOKEN}"}]
)
async def test_both_key_headers_work(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    assert (await client.get("/v1/models", headers=headers)).status_code == 200


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b"[1, 2]", "JSON object"),
        (orjson.dumps({**MSG, "messages": []}), "messages"),
        (orjson.dumps({**MSG, "max_tokens": "many"}), "max_tokens"),
        (orjson.dumps({k: v for k, v in MSG.items() if k != "model"}), "model"),
        (orjson.dumps({**MSG, "messages": [{"role": "user"}]}), "messages.0"),
        (orjson.dumps({**MSG, "model": "gpt-4o"}), "gpt-4o"),
    ],
)
async def test_bad_messages_requests_name_the_problem(
    client: httpx.AsyncClient, body: bytes, needle: str
) -> None:
    response = await client.post(
        "/v1/messages", content=body, headers={**AUTH, "content-type": "application/json"}
    )
    message = anthropic_error(response, 400, "invalid_request_error")
    assert needle in message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{", "not valid JSON"),
        (orjson.dumps({**CHAT, "messages": []}), "messages"),
        (orjson.dumps({**CHAT, "messages": [{"role": "wizard", "content": "x"}]}), "messages.0"),
    ],
)
async def test_bad_chat_requests_name_the_problem(
    client: httpx.AsyncClient, body: bytes, needle: str
) -> None:
    response = await client.post("/v1/chat/completions", content=body, headers=AUTH)
    assert needle in openai_error(response, 400, "invalid_request_error")


async def test_url_image_is_a_client_error(client: httpx.AsyncClient) -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    body = {**MSG, "messages": [{"role": "user", "content": [image, {"type": "text", "text": "what?"}]}]}
    anthropic_error(await client.post("/v1/messages", json=body, headers=AUTH), 400, "invalid_request_error")


# ------------------------------------------------------------------ body limit


async def test_body_over_the_limit_is_413_by_content_length() -> None:
    async with running_client(make_settings(gateway_max_body_bytes=4096)) as client:
        big = orjson.dumps({**MSG, "messages": [{"role": "user", "content": "x" * 5000}]})
        anthropic_error(
            await client.post("/v1/messages", content=big, headers=AUTH), 413, "request_too_large"
        )
        openai_error(
            await client.post("/v1/chat/completions", content=big, headers=AUTH), 413, "request_too_large"
        )


async def test_body_over_the_limit_is_413_when_streamed() -> None:
    async def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 1000

    async with running_client(make_settings(gateway_max_body_bytes=4096)) as client:
        response = await client.post("/v1/messages", content=chunks(), headers=AUTH)
        anthropic_error(response, 413, "request_too_large")


def test_default_limit_is_100_mb() -> None:
    assert make_settings().gateway_max_body_bytes == 100 * 1024 * 1024


# ------------------------------------------------------------------ unknown paths, methods


async def test_unknown_paths_404_in_the_right_shape(client: httpx.AsyncClient) -> None:
    anthropic_error(await client.get("/nothing-here"), 404, "not_found_error")
    anthropic_error(await client.get("/"), 404, "not_found_error")  # no dashboard configured
    anthropic_error(await client.post("/v1/unknown", headers=AUTH), 404, "not_found_error")
    openai_error(await client.get("/v1/chat/other", headers=AUTH), 404, "not_found")


# ------------------------------------------------------------------ bus down: quick 529 / 503


async def test_bus_down_is_529_or_503_with_retry_after_quickly(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await client.post(
        "/v1/messages?beta=true",
        json=MSG,
        headers={
            **AUTH,
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "prompt-caching-2024-07-31,whatever",
        },
    )
    anthropic_error(response, 529, "overloaded_error")
    assert int(response.headers["retry-after"]) >= 1
    response = await client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH)
    openai_error(response, 503, "service_unavailable")
    assert int(response.headers["retry-after"]) >= 1
    assert time.monotonic() - started < 2.0


# ------------------------------------------------------------------ local endpoints


async def test_count_tokens_is_local(client: httpx.AsyncClient) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Hello, world! " * 50}],
        "system": "be brief",
        "tools": [{"name": "t", "description": "d", "input_schema": {"type": "object", "properties": {}}}],
    }
    response = await client.post("/v1/messages/count_tokens?beta=true", json=body, headers=AUTH)
    assert response.status_code == 200
    small = await client.post(
        "/v1/messages/count_tokens",
        json={**body, "messages": [{"role": "user", "content": "Hi"}]},
        headers=AUTH,
    )
    assert response.json()["input_tokens"] > small.json()["input_tokens"] > 0


async def test_models_list_parses_in_both_sdks(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models", headers=AUTH)
    body = response.json()
    assert body["object"] == "list"
    assert body["has_more"] is False
    assert body["first_id"] == body["data"][0]["id"]
    assert body["last_id"] == body["data"][-1]["id"]
    for item in body["data"]:
        AnthropicModelInfo.model_validate(item)
        OpenAIModel.model_validate(item)
        assert item["context_window"] >= 200_000
        assert item["created_at"].endswith("Z")  # RFC 3339
    ids = {item["id"] for item in body["data"]}
    # one item per model, dashed (CONTRACTS.md "Models"); the static list until the pool answers
    assert {"claude-sonnet-4-5", "claude-opus-4-8", "claude-opus-5-5", "claude-sonnet-5"} <= ids
    assert len(ids) == len(body["data"])
    one = await client.get("/v1/models/claude-sonnet-4-5", headers=AUTH)
    assert one.json()["id"] == "claude-sonnet-4-5"
    anthropic_error(await client.get("/v1/models/nope", headers=AUTH), 404, "not_found_error")


async def test_health_ready_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not_ready", "reason": "NATS not connected"}  # CONTRACTS.md shape
    assert (await client.get("/metrics")).status_code == 401  # no admin key configured


async def test_metrics_need_the_admin_key_here_and_no_key_on_the_metrics_port() -> None:
    port = free_port()
    settings = make_settings(kiro_admin_token=ADMIN_TOKEN, gateway_metrics_port=port)
    async with running_client(settings) as client:
        await client.get("/v1/models", headers=AUTH)
        for headers in ({}, {"authorization": f"Bearer {CLIENT_TOKEN}"}, {"authorization": "Bearer wrong"}):
            anthropic_error(await client.get("/metrics", headers=headers), 401, "authentication_error")
        metrics = (await client.get("/metrics", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})).text
        assert 'gateway_requests_total{model="",route="models",status="200",team="operator"}' in metrics
        assert "gateway_nats_connected 0.0" in metrics
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as scraper:
            keyless = await scraper.get("/metrics")
            assert keyless.status_code == 200
            assert "gateway_nats_connected 0.0" in keyless.text
            assert (await scraper.get("/healthz")).status_code == 404
            assert (await scraper.post("/metrics")).status_code == 405


# ------------------------------------------------------------------ a bug


async def test_a_bug_is_500_with_request_id_and_no_trace(
    monkeypatch: pytest.MonkeyPatch, client: httpx.AsyncClient
) -> None:
    def explode(*_: object, **__: object) -> int:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("gateway.prepare.count_request_tokens", explode)
    response = await client.post(
        "/v1/messages/count_tokens", json={k: v for k, v in MSG.items() if k != "max_tokens"}, headers=AUTH
    )
    message = anthropic_error(response, 500, "api_error")
    assert response.headers["request-id"] in message
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


def test_kiro_default_model_wins_over_the_map() -> None:
    from gateway.app import load_model_map

    models = load_model_map('{"default_model": "claude-haiku-4.5"}', "claude-opus-4.6")
    resolved = models.resolve("claude-fable-9")
    assert (resolved.kiro_id, resolved.fallback) == ("claude-opus-4.6", True)
    assert load_model_map(None).default_model == "claude-sonnet-4.5"
