"""Helpers for the broker tests: settings, credential JSON, a bus client, polling (the simulator's
control client is the kit's `kiro_testing.sim.AsyncSimControl`)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypedDict, TypeVar

import httpx
import orjson

from kiro_service.bus import BusClient
from kiro_testing import NatsServer, RedisServer
from kiro_testing.sim import credential
from kiroproto import bus
from kiroproto.bus import (
    BROKER_PING,
    CREDENTIAL_ACTION,
    CREDENTIAL_ADD,
    LEASE_ACQUIRE,
    LEASE_RELEASE,
    LEASE_RENEW,
    POOL_STATUS,
    Ack,
    BrokerPing,
    BrokerPong,
    CredentialAction,
    CredentialAdd,
    CredentialAddResult,
    LeaseAdmitted,
    LeaseDenied,
    LeaseGrant,
    LeaseRelease,
    LeaseRequest,
    Outcome,
    PoolStatus,
    PoolStatusRequest,
)
from token_broker import Broker, Settings

T = TypeVar("T")


class SimUrls(TypedDict):
    """Broker settings that point every upstream base URL at the simulator (`sim_urls`)."""

    kiro_api_base_url: str
    kiro_auth_base_url: str
    kiro_oidc_base_url: str


class StartBroker(Protocol):
    """The `start_broker` fixture: start an in-process broker; `overrides` are Settings fields."""

    async def __call__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        run_jobs: bool = False,
        **overrides: object,
    ) -> Broker: ...


def make_settings(nats_server: NatsServer, redis_server: RedisServer, ns: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "nats_url": nats_server.url,
        "redis_url": redis_server.url,
        "kiro_bus_namespace": ns,
        "kiro_redis_prefix": ns,
        "broker_instance_id": f"{ns}-{uuid.uuid4().hex[:6]}",
        "broker_drain_timeout": 2.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def iso_in(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds, tz=UTC).isoformat().replace("+00:00", "Z")


def cred(cid: str, *, expires_in: float = 7200, **extra: Any) -> dict[str, Any]:
    """A Social credential with a valid access token (no refresh needed for `expires_in` s)."""
    item: dict[str, Any] = {
        "id": cid,
        "auth": "Social",
        "refreshToken": f"aorRefresh-{cid}-" + "r" * 40,
        "accessToken": f"aoaAccess-{cid}-" + "a" * 40,
        "expiresAt": iso_in(expires_in),
    }
    item.update(extra)
    return item


def creds_json(*items: dict[str, Any]) -> str:
    return json.dumps(list(items))


class BrokerBus:
    """The gateway's side of the broker's endpoints, for tests, over the one bus client."""

    def __init__(self, client: BusClient) -> None:
        self.client = client

    async def acquire(
        self,
        *,
        exclude: tuple[str, ...] = (),
        wait_ms: int | None = 0,
        model: str = "claude-sonnet-4.5",
        session_id: str | None = None,
    ) -> LeaseGrant | LeaseDenied | LeaseAdmitted:
        req = LeaseRequest(
            request_id=uuid.uuid4().hex, model=model, exclude=exclude, wait_ms=wait_ms, session_id=session_id
        )
        envelope = await self.client.call(LEASE_ACQUIRE, req, timeout_s=10.0 + (wait_ms or 0) / 1000)
        assert not isinstance(envelope.reply, LeaseAdmitted), envelope.reply
        return envelope.reply

    async def grant(self, **kwargs: Any) -> LeaseGrant:
        reply = await self.acquire(**kwargs)
        assert isinstance(reply, LeaseGrant), reply
        return reply

    async def release(self, grant: LeaseGrant, outcome: Outcome = Outcome.SUCCESS, **kwargs: Any) -> Ack:
        rel = LeaseRelease(
            lease_id=grant.lease_id, credential_id=grant.credential_id, outcome=outcome, **kwargs
        )
        return await self.client.call(LEASE_RELEASE, rel, timeout_s=10.0)

    async def renew(self, grant: LeaseGrant) -> Ack:
        ren = bus.LeaseRenew(lease_id=grant.lease_id, credential_id=grant.credential_id)
        return await self.client.call(LEASE_RENEW, ren, timeout_s=10.0)

    async def status(self) -> PoolStatus:
        return await self.client.call(POOL_STATUS, PoolStatusRequest(), timeout_s=10.0)

    async def action(self, cid: str, action: str, priority: int | None = None) -> Ack:
        body = CredentialAction(credential_id=cid, action=action, priority=priority)
        return await self.client.call(CREDENTIAL_ACTION, body, timeout_s=20.0)

    async def add(self, item: dict[str, Any], verify: bool = True) -> CredentialAddResult:
        body = CredentialAdd.model_validate_json(orjson.dumps({"credential": item, "verify": verify}))
        return await self.client.call(CREDENTIAL_ADD, body, timeout_s=20.0)

    async def ping(self) -> BrokerPong:
        return await self.client.call(BROKER_PING, BrokerPing(), timeout_s=10.0)


async def eventually(check: Callable[[], Awaitable[T | None]], within_s: float = 10.0, what: str = "") -> T:
    """Poll `check` until it returns something truthy (no fixed sleeps)."""
    deadline = time.monotonic() + within_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)


def sim_cred(account: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The broker's credential entry for a simulator account (no access token, no profile ARN:
    the broker refreshes and looks it up first)."""
    return credential(account, profile=False, **extra)
