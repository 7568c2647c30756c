"""Sessions stay on their account with one conversationId (reference §19.2, §19.8), end to end:
gateway and broker over real NATS and Redis against the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kiro_testing import NatsServer, RedisServer
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import CLIENT_TOKEN, Stack, StackConfig

pytestmark = pytest.mark.integration

MODEL = "claude-sonnet-4-6"
SESSION = "0b6f4c1e-2d3a-4e5f-8a9b-1c2d3e4f5a6b"
HEADERS = {"x-api-key": CLIENT_TOKEN, "anthropic-version": "2023-06-01"}


@pytest.fixture
def pool(sim: Sim, log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Stack]:
    accounts = [sim.add_account() for _ in range(3)]
    pool = Stack(
        log_dir / "pool-sessions",
        # the broker's choice for every request (the unsessioned requests below spread over the
        # accounts one request at a time): without slot reuse (gateway/slots.py)
        StackConfig(
            brokers=0,
            gateways=0,
            credentials=[credential(a) for a in accounts],
            env={"BROKER_LEASE_REUSE": "0"},
        ),
        nats_url=nats_server.url,
        redis_url=redis_server.url,
        sim=sim,
    ).start()
    pool.accounts = accounts
    pool.add_broker()
    pool.add_gateway()
    yield pool
    pool.stop()


def served(sim: Sim, pool: Stack, send: Any) -> list[tuple[str, str]]:
    """(account, conversationId) of each request `send` makes (one at a time)."""
    ids = [a["id"] for a in pool.accounts]
    before = {i: sim.account_stats(i).get("chat_requests", 0) for i in ids}
    out: list[tuple[str, str]] = []
    for response in send():
        assert response.status_code == 200, response.text
        now = {i: sim.account_stats(i).get("chat_requests", 0) for i in ids}
        moved = [i for i in ids if now[i] != before[i]]
        assert len(moved) == 1
        body = sim.last_request(moved[0])["body"]
        out.append((moved[0], body["conversationState"]["conversationId"]))
        before = now
    return out


def session_leases(pool: Stack) -> dict[str, float]:
    metrics_url = pool.broker_url(0) + "/metrics"
    text = httpx.get(metrics_url, timeout=10).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "kiro_broker_session_leases":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    out[sample.labels["account"]] = sample.value
    return out


def test_twenty_requests_of_one_session_stay_on_one_account(sim: Sim, pool: Stack) -> None:
    body = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}

    def send() -> Iterator[httpx.Response]:
        with httpx.Client(base_url=pool.gateway_url(), headers=HEADERS, timeout=30) as client:
            for _ in range(20):
                yield client.post("/v1/messages", json=body, headers={"x-claude-code-session-id": SESSION})

    results = served(sim, pool, send)
    assert len(results) == 20
    assert len({account for account, _ in results}) == 1
    assert {conversation for _, conversation in results} == {SESSION}
    # the broker measures it: the share of session leases served by the session's first account
    assert session_leases(pool) == {"first": 20.0, "other": 0.0}

    def unsessioned() -> Iterator[httpx.Response]:
        with httpx.Client(base_url=pool.gateway_url(), headers=HEADERS, timeout=30) as client:
            for _ in range(6):
                yield client.post("/v1/messages", json=body)

    others = served(sim, pool, unsessioned)
    assert len({account for account, _ in others}) == 3  # without a session the load spreads
    assert len({conversation for _, conversation in others}) == 6


def test_claude_code_metadata_and_openai_user_are_sessions_too(sim: Sim, pool: Stack) -> None:
    user_id = json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": SESSION})
    anthropic_body = {
        "model": MODEL,
        "max_tokens": 16,
        "metadata": {"user_id": user_id},
        "messages": [{"role": "user", "content": "hi"}],
    }
    openai_body = {"model": MODEL, "user": "alice", "messages": [{"role": "user", "content": "hi"}]}

    def send() -> Iterator[httpx.Response]:
        with httpx.Client(base_url=pool.gateway_url(), headers=HEADERS, timeout=30) as client:
            for _ in range(5):
                yield client.post("/v1/messages", json=anthropic_body)
            for _ in range(5):
                yield client.post("/v1/chat/completions", json=openai_body)

    results = served(sim, pool, send)
    claude, openai = results[:5], results[5:]
    assert len(set(claude)) == 1 and claude[0][1] == SESSION
    assert len(set(openai)) == 1 and openai[0][1] != SESSION
