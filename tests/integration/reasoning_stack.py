"""A gateway (in process, the real app and lifespan) in front of the real simulator, leased by a
broker stand-in whose grants carry the serving account's catalogue entry, read from the
simulator's `ListAvailableModels` as the broker does once the pool track fills
`LeaseGrant.model_info`. Until then this is the way to reach the schema path end to end; the
SDKs talk to the gateway over ASGI, the gateway to the simulator over HTTP.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starlette.types import Receive, Scope, Send

from gateway.app import create_app
from gateway.deps import GatewayState
from gateway.leasing import LeaseAsk, Leasing
from gateway.metrics import Metrics
from gateway.settings import Settings
from kiro_service.bus import BusClient
from kiro_service.deps import state_from
from kiro_testing.inloop import serve
from kiro_testing.sim import SimControl
from kiro_testing.stack import CLIENT_TOKEN
from kiroproto.bus import BrokerPong, CatalogueModel, LeaseGrant, LeaseRelease

NEW_MODELS = ["claude-sonnet-5", "claude-opus-4.8", "claude-sonnet-4.5", "claude-sonnet-4.6"]
MODEL_MAP = {
    "aliases": {"claude-sonnet-5": "claude-sonnet-5", "claude-opus-4-8": "claude-opus-4.8"},
    "models": NEW_MODELS,
}


def catalogue(sim: SimControl, token: str) -> dict[str, CatalogueModel]:
    """The account's catalogue as the broker keeps it (§19.4)."""
    response = httpx.get(
        sim.url + "/ListAvailableModels",
        params={"origin": "AI_EDITOR", "maxResults": "50"},
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()
    out: dict[str, CatalogueModel] = {}
    for entry in response.json()["models"]:
        out[entry["modelId"]] = CatalogueModel(
            id=entry["modelId"],
            context_window=entry["tokenLimits"]["maxInputTokens"],
            request_fields_schema=entry.get("additionalModelRequestFieldsSchema"),
        )
    return out


@dataclass
class SimAccount:
    """One simulator account as the broker would lease it."""

    id: str
    token: str
    profile_arn: str | None
    models: dict[str, CatalogueModel]

    @classmethod
    def create(cls, sim: SimControl, **spec: Any) -> SimAccount:
        account = sim.add_account(**spec)
        token = httpx.post(
            f"{sim.url}/_sim/accounts/{account['id']}/access-tokens", json={}, timeout=10
        ).json()
        return cls(
            account["id"],
            token["access_token"],
            account.get("profile_arn"),
            catalogue(sim, token["access_token"]),
        )


@dataclass
class CatalogueBroker(Leasing):
    """Leases `account` for every request; records releases."""

    account: SimAccount | None = None
    releases: list[LeaseRelease] = field(default_factory=list)

    def __post_init__(self) -> None:
        from prometheus_client import CollectorRegistry

        unused = BusClient("nats://unused", service="gateway", namespace="reasoning")  # never started
        super().__init__(unused, bus_timeout=0.1, metrics=Metrics(CollectorRegistry()))

    @property
    def connected(self) -> bool:
        return True

    async def acquire(self, ask: LeaseAsk) -> LeaseGrant:
        account = self.account
        assert account is not None
        return LeaseGrant(
            lease_id=f"lease-{len(self.releases)}",
            credential_id=account.id,
            auth="Social",
            access_token=account.token,
            token_fingerprint="fp",
            profile_arn=account.profile_arn,
            region="us-east-1",
            machine_id="0" * 64,
            lease_ttl_s=30,
            model_info=account.models.get(ask.model),
        )

    async def release(self, release: LeaseRelease) -> None:
        self.releases.append(release)

    async def renew(self, lease_id: str, credential_id: str) -> bool:
        return True

    async def ping(self, limit_s: float = 1.0) -> BrokerPong | None:
        return BrokerPong(instance_id="catalogue-broker", redis_ok=True)

    @property
    def outcomes(self) -> list[str]:
        return [r.outcome.value for r in self.releases]


@asynccontextmanager
async def gateway(sim: SimControl, broker: CatalogueBroker) -> AsyncIterator[str]:
    """The gateway app with `broker` installed, served over real HTTP in this event loop
    (its own lifespan run here once); yields its base URL."""
    settings = Settings(
        _env_file=None,
        kiro_client_token=CLIENT_TOKEN,
        nats_url="nats://127.0.0.1:1",
        kiro_api_base_url=sim.url,
        gateway_model_map=orjson.dumps(MODEL_MAP).decode(),
        session_pool_wait=1.0,
        gateway_bus_timeout=0.2,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app) as lifespan:
        state = dict(lifespan or {})
        parts = state_from(state, GatewayState)
        parts.upstreams = dataclasses.replace(parts.upstreams, broker=broker)

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":  # already running above
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
                return
            if scope["type"] == "http":
                scope = {**scope, "state": dict(state)}
            await app(scope, receive, send)

        async with serve(with_state) as url:
            yield url
