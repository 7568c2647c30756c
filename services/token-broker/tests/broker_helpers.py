"""Helpers for the broker tests: settings, credential JSON, a bus client, polling (the simulator's
control client is the kit's `kiro_testing.sim.AsyncSimControl`)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from kiro_testing import NatsServer, RedisServer
from kiro_testing.sim import credential
from kiroproto.bus import (
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
    LeaseRenew,
    LeaseReplyEnvelope,
    LeaseRequest,
    Outcome,
    PoolStatus,
    PoolStatusRequest,
    Subjects,
)
from token_broker import Settings

T = TypeVar("T")


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


class MicroError(Exception):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class BusClient:
    """The gateway's side of the wire protocol, for tests."""

    def __init__(self, nc: Any, namespace: str) -> None:
        self.nc = nc
        self.subjects = Subjects(namespace)

    async def request(self, subject: str, body: bytes, within_s: float = 10.0) -> bytes:
        msg = await self.nc.request(subject, body, timeout=within_s)
        headers = msg.headers or {}
        if "Nats-Service-Error-Code" in headers:
            raise MicroError(headers["Nats-Service-Error-Code"], headers.get("Nats-Service-Error", ""))
        return bytes(msg.data)

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
        timeout = 10.0 + (wait_ms or 0) / 1000
        data = await self.request(self.subjects.lease_acquire, req.model_dump_json().encode(), timeout)
        return LeaseReplyEnvelope.model_validate_json(data).reply

    async def grant(self, **kwargs: Any) -> LeaseGrant:
        reply = await self.acquire(**kwargs)
        assert isinstance(reply, LeaseGrant), reply
        return reply

    async def release(self, grant: LeaseGrant, outcome: Outcome = Outcome.SUCCESS, **kwargs: Any) -> Ack:
        rel = LeaseRelease(
            lease_id=grant.lease_id, credential_id=grant.credential_id, outcome=outcome, **kwargs
        )
        data = await self.request(self.subjects.lease_release, rel.model_dump_json().encode())
        return Ack.model_validate_json(data)

    async def renew(self, grant: LeaseGrant) -> Ack:
        ren = LeaseRenew(lease_id=grant.lease_id, credential_id=grant.credential_id)
        data = await self.request(self.subjects.lease_renew, ren.model_dump_json().encode())
        return Ack.model_validate_json(data)

    async def status(self) -> PoolStatus:
        data = await self.request(self.subjects.pool_status, PoolStatusRequest().model_dump_json().encode())
        return PoolStatus.model_validate_json(data)

    async def action(self, cid: str, action: str, priority: int | None = None) -> Ack:
        body = CredentialAction.model_validate({"credential_id": cid, "action": action, "priority": priority})
        data = await self.request(self.subjects.credential_action, body.model_dump_json().encode(), 20.0)
        return Ack.model_validate_json(data)

    async def add(self, item: dict[str, Any], verify: bool = True) -> CredentialAddResult:
        body = orjson.dumps({"credential": item, "verify": verify})
        CredentialAdd.model_validate_json(body)
        data = await self.request(self.subjects.credential_add, body, 20.0)
        return CredentialAddResult.model_validate_json(data)

    async def ping(self) -> BrokerPong:
        data = await self.request(self.subjects.broker_ping, BrokerPing().model_dump_json().encode())
        return BrokerPong.model_validate_json(data)


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
