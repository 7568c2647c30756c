"""Pending login flows, kept in Redis with TTLs so that any oauth replica can continue them.

A device-authorization flow holds its client registration and device code until it ends; then
the secrets are dropped and only the outcome stays (for the page's last poll). A social login
holds its PKCE verifier under its `state`, taken once with GETDEL. With `KIRO_SECRET_KEY` set,
both are sealed (`kiro_admin.Sealer`; the Redis key is the associated data).
"""

from __future__ import annotations

import secrets
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from redis.asyncio import Redis

from kiro_admin import Sealer
from kiro_oauth.keys import DONE_TTL_S, FLOW_GRACE_S, POLL_LOCK_MS, Keys

FlowKind = Literal["builder_id", "idc"]
FlowStatus = Literal["pending", "done", "denied", "expired", "error"]
M = TypeVar("M", bound=BaseModel)


class DeviceFlow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    kind: FlowKind
    region: str
    start_url: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None = None
    expires_at: float
    interval: int
    next_poll_at: float
    status: FlowStatus = "pending"
    message: str | None = None
    credential_id: str | None = None
    # secrets, dropped when the flow ends
    client_id: str | None = None
    client_secret: str | None = None
    device_code: str | None = None

    def public(self, now: float) -> dict[str, Any]:
        """What the page may see: never the client secret or device code."""
        return {
            "flow_id": self.id,
            "kind": self.kind,
            "status": self.status,
            "message": self.message,
            "credential_id": self.credential_id,
            "user_code": self.user_code,
            "verification_uri": self.verification_uri,
            "verification_uri_complete": self.verification_uri_complete,
            "expires_in": max(0, round(self.expires_at - now)),
            "interval": self.interval,
            "retry_in": max(0.0, round(self.next_poll_at - now, 2)),
        }

    def finished(
        self, status: FlowStatus, message: str | None, credential_id: str | None = None
    ) -> DeviceFlow:
        return self.model_copy(
            update={
                "status": status,
                "message": message,
                "credential_id": credential_id,
                "client_id": None,
                "client_secret": None,
                "device_code": None,
            }
        )


class SocialLogin(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: str
    idp: str
    verifier: str
    region: str
    created_at: float


def new_flow_id() -> str:
    return secrets.token_urlsafe(18)


class FlowStore:
    def __init__(self, redis: Redis, keys: Keys, sealer: Sealer) -> None:
        self._redis = redis
        self._keys = keys
        self._sealer = sealer

    async def save_device(self, flow: DeviceFlow, now: float) -> None:
        key = self._keys.device(flow.id)
        if flow.status == "pending":
            ttl = max(1, int(flow.expires_at - now) + FLOW_GRACE_S)
        else:
            ttl = DONE_TTL_S
        await self._redis.set(key, self._sealer.seal(flow.model_dump_json(), key), ex=ttl)

    def _open(self, key: str, raw: str | bytes | None, model: type[M]) -> M | None:
        """A record read at `key`: None when absent, sealed with another key, or malformed."""
        if raw is None:
            return None
        text = self._sealer.open(raw if isinstance(raw, str) else raw.decode(), key)
        if text is None:
            return None
        try:
            return model.model_validate_json(text)
        except ValidationError:
            return None

    async def load_device(self, flow_id: str) -> DeviceFlow | None:
        key = self._keys.device(flow_id)
        return self._open(key, await self._redis.get(key), DeviceFlow)

    async def delete_device(self, flow_id: str) -> None:
        await self._redis.delete(self._keys.device(flow_id), self._keys.lock(flow_id))

    async def lock(self, flow_id: str) -> str | None:
        """A token when this replica may poll the flow now; None while another one does."""
        token = secrets.token_hex(8)
        ok = await self._redis.set(self._keys.lock(flow_id), token, nx=True, px=POLL_LOCK_MS)
        return token if ok else None

    async def unlock(self, flow_id: str, token: str) -> None:
        key = self._keys.lock(flow_id)
        if await self._redis.get(key) == token:
            await self._redis.delete(key)

    async def save_social(self, login: SocialLogin, ttl_s: float) -> None:
        key = self._keys.social(login.state)
        await self._redis.set(key, self._sealer.seal(login.model_dump_json(), key), ex=max(1, int(ttl_s)))

    async def take_social(self, state: str) -> SocialLogin | None:
        key = self._keys.social(state)
        return self._open(key, await self._redis.getdel(key), SocialLogin)
