"""Helpers of the pool tests (catalogue, API keys, configuration): brokers started with a given
`KIRO_AUTH_TOKEN`, bus calls to the broker, and what the simulator saw per account."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import orjson

from kiro_testing import PythonService
from kiro_testing.polling import poll
from kiro_testing.sim import Sim
from kiro_testing.stack import CLIENT_TOKEN, Stack
from kiroproto.bus import (
    CREDENTIAL_ACTION,
    KEY_CREATE,
    POOL_MODELS,
    Ack,
    CredentialAction,
    CredentialStatus,
    KeyCreate,
    PoolModels,
    PoolModelsRequest,
)


def start_broker(pool: Stack, config: Sequence[Mapping[str, Any]] | None, **env: str) -> PythonService:
    """A broker of `pool` configured with exactly `config` (None: KIRO_AUTH_TOKEN unset)."""
    credentials = orjson.dumps(list(config)).decode() if config is not None else ""
    return pool.add_broker({**env, "KIRO_AUTH_TOKEN": credentials})


def stop_broker(pool: Stack, broker: PythonService) -> None:
    pool.stop_broker(broker)


def credential_action(pool: Stack, credential_id: str, action: str) -> Ack:
    req = CredentialAction(credential_id=credential_id, action=action)
    return asyncio.run(pool.bus_call(CREDENTIAL_ACTION, req))


def pool_models(pool: Stack) -> PoolModels:
    return asyncio.run(pool.bus_call(POOL_MODELS, PoolModelsRequest(), service="gateway"))


def create_team_key(pool: Stack, team: str, allowed: Sequence[str]) -> str:
    req = KeyCreate(team=team, allowed_models=tuple(allowed))
    created = asyncio.run(pool.bus_call(KEY_CREATE, req))
    assert created.ok and created.secret, created.message
    return created.secret


def status_of(pool: Stack, credential_id: str) -> CredentialStatus:
    return next(c for c in pool.pool_status_sync().credentials if c.id == credential_id)


def wait_catalogues(pool: Stack, *ids: str, timeout: float = 15.0) -> None:
    """Until the broker knows the catalogue of every named account."""
    poll(
        lambda: all(status_of(pool, cid).catalogue_at is not None for cid in ids),
        timeout=timeout,
        message=f"catalogues of {ids}",
    )


def last_model(sim: Sim, account_id: str) -> str | None:
    """The `modelId` of the account's last chat request, as the simulator received it."""
    body = sim.last_request(account_id)["body"]
    if not isinstance(body, dict):
        return None
    current = body["conversationState"]["currentMessage"]["userInputMessage"]
    return str(current["modelId"])


def chats(sim: Sim, account_id: str) -> int:
    return int(sim.account_stats(account_id).get("chat_requests", 0))


def model_rejections(sim: Sim, account_id: str) -> int:
    return int(sim.account_stats(account_id).get("rejections", {}).get("model_id", 0))


def message(
    pool: Stack, model: str, *, stream: bool = False, key: str = CLIENT_TOKEN, text: str = "hello"
) -> httpx.Response:
    body = {
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }
    with httpx.Client(base_url=pool.gateway_url(), timeout=30.0) as http:
        return http.post("/v1/messages", json=body, headers={"x-api-key": key})


def models_list(pool: Stack, key: str = CLIENT_TOKEN) -> dict[str, Any]:
    with httpx.Client(base_url=pool.gateway_url(), timeout=10.0) as http:
        response = http.get("/v1/models", headers={"x-api-key": key})
    assert response.status_code == 200, response.text
    return dict(response.json())
