"""Helpers of the pool tests (catalogue, API keys, configuration): brokers started with a given
`KIRO_AUTH_TOKEN`, bus calls to the broker, and what the simulator saw per account."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import httpx
import orjson
from pydantic import BaseModel

from kiro_service.bus import call_once
from kiro_testing import PythonService
from kiroproto.bus import (
    CREDENTIAL_ACTION,
    KEY_CREATE,
    POOL_MODELS,
    Ack,
    CredentialAction,
    CredentialStatus,
    Endpoint,
    KeyCreate,
    PoolModels,
    PoolModelsRequest,
)
from tests.integration.stack import CLIENT_TOKEN, Pool, Sim, poll

Req = TypeVar("Req", bound=BaseModel)
Rep = TypeVar("Rep", bound=BaseModel)


def start_broker(pool: Pool, config: Sequence[Mapping[str, Any]] | None, **env: str) -> PythonService:
    """A broker of `pool` configured with exactly `config` (None: KIRO_AUTH_TOKEN unset)."""
    saved = dict(pool.common)
    pool.credentials_json = orjson.dumps(list(config)).decode() if config is not None else ""
    pool.common.update(env)
    try:
        return pool.add_broker()
    finally:
        pool.common.clear()
        pool.common.update(saved)


def stop_broker(pool: Pool, broker: PythonService) -> None:
    broker.stop()
    pool.brokers.remove(broker)


async def bus_call(pool: Pool, endpoint: Endpoint[Req, Rep], message: Req, service: str = "dashboard") -> Rep:
    return await call_once(
        pool.nats_url, endpoint, message, service=service, namespace=pool.namespace, timeout_s=15.0
    )


def credential_action(pool: Pool, credential_id: str, action: str) -> Ack:
    req = CredentialAction(credential_id=credential_id, action=action)
    return asyncio.run(bus_call(pool, CREDENTIAL_ACTION, req))


def pool_models(pool: Pool) -> PoolModels:
    return asyncio.run(bus_call(pool, POOL_MODELS, PoolModelsRequest(), service="gateway"))


def create_team_key(pool: Pool, team: str, allowed: Sequence[str]) -> str:
    req = KeyCreate(team=team, allowed_models=tuple(allowed))
    created = asyncio.run(bus_call(pool, KEY_CREATE, req))
    assert created.ok and created.secret, created.message
    return created.secret


def status_of(pool: Pool, credential_id: str) -> CredentialStatus:
    return next(c for c in pool.pool_status_sync().credentials if c.id == credential_id)


def wait_catalogues(pool: Pool, *ids: str, timeout: float = 15.0) -> None:
    """Until the broker knows the catalogue of every named account."""
    poll(
        lambda: all(status_of(pool, cid).catalogue_at is not None for cid in ids),
        timeout=timeout,
        message=f"catalogues of {ids}",
    )


def last_model(sim: Sim, account_id: str) -> str | None:
    """The `modelId` of the account's last chat request, as the simulator received it."""
    body = sim._call("GET", f"/_sim/accounts/{account_id}/last-request")["body"]
    if not isinstance(body, dict):
        return None
    current = body["conversationState"]["currentMessage"]["userInputMessage"]
    return str(current["modelId"])


def chats(sim: Sim, account_id: str) -> int:
    return int(sim.account_stats(account_id).get("chat_requests", 0))


def model_rejections(sim: Sim, account_id: str) -> int:
    return int(sim.account_stats(account_id).get("rejections", {}).get("model_id", 0))


def message(
    pool: Pool, model: str, *, stream: bool = False, key: str = CLIENT_TOKEN, text: str = "hello"
) -> httpx.Response:
    body = {
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }
    with httpx.Client(base_url=pool.gateway_url(), timeout=30.0) as http:
        return http.post("/v1/messages", json=body, headers={"x-api-key": key})


def models_list(pool: Pool, key: str = CLIENT_TOKEN) -> dict[str, Any]:
    with httpx.Client(base_url=pool.gateway_url(), timeout=10.0) as http:
        response = http.get("/v1/models", headers={"x-api-key": key})
    assert response.status_code == 200, response.text
    return dict(response.json())
