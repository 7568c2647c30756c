"""Finding 8 (issue 9): JSON nested 900-1000 levels in `tools[].input_schema` or a tool call's
input is a 400 in the client's shape (never a 500 / RecursionError), for both APIs and for
count_tokens; a request nested as deep as the bound allows is still served. Real gateway and
broker processes over real NATS and Redis, against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from kiro_testing import NatsServer, RedisServer
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import CLIENT_TOKEN, Stack, StackConfig
from kiroproto.jsondepth import MAX_JSON_DEPTH

pytestmark = pytest.mark.integration
AUTH = {"x-api-key": CLIENT_TOKEN}
MODEL = "claude-sonnet-4-6"


@pytest.fixture(scope="module")
def pool(log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Stack]:
    sim = Sim(log_dir / "edge-nesting")
    sim.start()
    try:
        account = sim.add_account(credits_limit=500.0, trial_credits=100.0)
        with Stack(
            log_dir / "edge-nesting",
            StackConfig(credentials=[credential(account)]),
            nats_url=nats_server.url,
            redis_url=redis_server.url,
            sim=sim,
        ) as p:
            yield p
    finally:
        sim.stop()


DEEP = "__deep__"


def nested_text(levels: int) -> str:
    """JSON text nesting `levels` arrays and objects (built as text: the encoders stop earlier)."""
    opens = ['{"k":' if i % 2 else "[" for i in range(levels)]
    closes = ["}" if i % 2 else "]" for i in reversed(range(levels))]
    return "".join(opens) + '"leaf"' + "".join(closes)


def schema_text(levels: int) -> str:
    return '{"type":"object","properties":{"a":' + nested_text(levels - 2) + "}}"


def anthropic_body(*, schema_levels: int = 3, input_levels: int = 1) -> str:
    body = {
        "model": MODEL,
        "max_tokens": 16,
        "tools": [{"name": "f", "description": "d", "input_schema": "S" + DEEP}],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"x": "I" + DEEP}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
        ],
    }
    text = orjson.dumps(body).decode()
    text = text.replace(f'"S{DEEP}"', schema_text(schema_levels))
    return text.replace(f'"I{DEEP}"', nested_text(input_levels))


def openai_body(*, schema_levels: int = 3, arguments_levels: int = 1) -> str:
    arguments = '{"x":' + nested_text(arguments_levels) + "}"
    body = {
        "model": MODEL,
        "max_tokens": 16,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": "S" + DEEP}}],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
    }
    return orjson.dumps(body).decode().replace(f'"S{DEEP}"', schema_text(schema_levels))


def post(pool: Stack, path: str, body: str) -> httpx.Response:
    return httpx.post(
        pool.gateway_url() + path,
        content=body.encode(),
        headers={**AUTH, "content-type": "application/json"},
        timeout=30.0,
    )


def gateway_log(pool: Stack) -> str:
    return pool.gateways[0].log_path.read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize("levels", [900, 950, 1000])
def test_anthropic_deep_tool_schema_is_400(pool: Stack, levels: int) -> None:
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        r = post(pool, path, anthropic_body(schema_levels=levels - 3))
        assert r.status_code == 400, r.text
        assert r.json()["error"]["type"] == "invalid_request_error"
    assert "RecursionError" not in gateway_log(pool) and "unhandled error" not in gateway_log(pool)


@pytest.mark.parametrize("levels", [900, 1000])
def test_anthropic_deep_tool_use_input_is_400(pool: Stack, levels: int) -> None:
    r = post(pool, "/v1/messages", anthropic_body(input_levels=levels - 7))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert "unhandled error" not in gateway_log(pool)


@pytest.mark.parametrize(("schema_levels", "arguments_levels"), [(950, 1), (3, 950), (3, 1000)])
def test_openai_deep_parameters_or_arguments_are_400(
    pool: Stack, schema_levels: int, arguments_levels: int
) -> None:
    r = post(
        pool,
        "/v1/chat/completions",
        openai_body(schema_levels=schema_levels, arguments_levels=arguments_levels),
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert "unhandled error" not in gateway_log(pool)


def test_as_deep_as_the_bound_is_served(pool: Stack) -> None:
    body = anthropic_body(schema_levels=MAX_JSON_DEPTH - 3, input_levels=MAX_JSON_DEPTH - 7)
    r = post(pool, "/v1/messages", body)
    assert r.status_code == 200, r.text
    assert post(pool, "/v1/messages", anthropic_body(schema_levels=MAX_JSON_DEPTH - 2)).status_code == 400
    r = post(pool, "/v1/chat/completions", openai_body(schema_levels=MAX_JSON_DEPTH - 5, arguments_levels=60))
    assert r.status_code == 200, r.text
