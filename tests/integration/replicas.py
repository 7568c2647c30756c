"""Three gateways and two brokers on the test session's NATS and Redis, against the simulator:
the stack of the multi-replica tests (`test_replicas.py`, `tests/sharing`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from kiro_testing import NatsServer, RedisServer
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import CLIENT_TOKEN, Stack, StackConfig

MODEL = "claude-sonnet-4-6"
GATEWAYS = 3
CAP = 2  # SESSION_POOL_MAX_SIZE
LEASE_TTL_S = 4.0


@contextmanager
def replica_stack(
    sim: Sim, log_dir: Path, nats_server: NatsServer, redis_server: RedisServer, name: str
) -> Iterator[Stack]:
    """3 gateways, 2 brokers, 3 simulator accounts with a cap of `CAP` each (6 slots)."""
    accounts = [sim.add_account() for _ in range(3)]
    config = StackConfig(
        brokers=2,
        gateways=GATEWAYS,
        credentials=[credential(a) for a in accounts],
        env={"SESSION_POOL_MAX_SIZE": str(CAP), "SESSION_POOL_WAIT": "60s", "SESSION_POOL_COOLDOWN": "60s"},
        broker_env={"BROKER_LEASE_TTL": f"{LEASE_TTL_S}s"},
    )
    stack = Stack(log_dir / name, config, nats_url=nats_server.url, redis_url=redis_server.url, sim=sim)
    stack.start()
    stack.accounts = accounts
    try:
        yield stack
    finally:
        stack.stop()


def body(text: str = "ok", script: dict[str, Any] | None = None, stream: bool = False) -> dict[str, Any]:
    content = f"{text}<<sim:{json.dumps(script)}>>" if script else text
    return {
        "model": MODEL,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": content}],
    }


async def ask(
    http: httpx.AsyncClient, pool: Stack, i: int, body: dict[str, Any], key: str = CLIENT_TOKEN
) -> int:
    """One `/v1/messages` call on gateway `i % GATEWAYS`; its status."""
    response = await http.post(
        pool.gateway_url(i % GATEWAYS) + "/v1/messages", json=body, headers={"x-api-key": key}
    )
    await response.aread()
    return response.status_code


def account_ids(pool: Stack) -> list[str]:
    return [a["id"] for a in pool.accounts]


async def all_leases_back(pool: Stack) -> bool:
    return (await pool.pool_status()).in_flight == 0
