"""Fakes for the gateway's own seams in unit tests: a scripted broker and a Kiro upstream at
the httpx transport seam (integration tests use the real broker and the simulator)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from gw_helpers import make_settings

from gateway.deps import GatewayState
from gateway.errors import Overloaded, RateLimited
from gateway.failover import Upstreams
from gateway.leasing import LeaseAsk, LeaseBroker, denial_error
from gateway.metrics import Metrics
from gateway.upstream import UpstreamClient
from kiroproto.bus import DenialReason, LeaseDenied, LeaseGrant, LeaseRelease
from kiroproto.eventstream import encode_event, encode_exception


def text_events(*parts: str, percentage: float = 1.0) -> list[bytes]:
    frames = [encode_event("assistantResponseEvent", orjson.dumps({"content": p})) for p in parts]
    frames.append(encode_event("contextUsageEvent", orjson.dumps({"contextUsagePercentage": percentage})))
    frames.append(encode_event("meteringEvent", orjson.dumps({"unit": "credit", "usage": 0.01})))
    return frames


def exception_frame(exception_type: str, message: str) -> bytes:
    return encode_exception(exception_type, orjson.dumps({"message": message}))


def lease_grant(lease_id: str = "l", credential_id: str = "c", **fields: Any) -> LeaseGrant:
    """A grant with the fields every test leaves alone filled in (`fields` sets the others)."""
    base: dict[str, Any] = {
        "auth": "Social",
        "access_token": f"token-{credential_id}",
        "token_fingerprint": f"fp-{credential_id}",
        "region": "us-east-1",
        "machine_id": "0" * 64,
        "lease_ttl_s": 30.0,
    }
    return LeaseGrant(lease_id=lease_id, credential_id=credential_id, **(base | fields))


@dataclass
class FakeBroker:
    """A `LeaseBroker`: grants credentials from a list (skipping excluded ones), records every call."""

    credentials: Sequence[str] = ("cred-a", "cred-b", "cred-c")
    denial: DenialReason | None = None
    acquires: list[tuple[str, ...]] = field(default_factory=list)
    sessions: list[str | None] = field(default_factory=list)
    free_in: float | None = None  # what next_free_in answers
    releases: list[LeaseRelease] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def acquire(self, ask: LeaseAsk) -> LeaseGrant:
        exclude = ask.exclude
        self.acquires.append(exclude)
        self.sessions.append(ask.session_id)
        if self.denial is not None:
            raise denial_error(LeaseDenied(reason=self.denial, message="scripted", retry_after_s=3))
        free = [c for c in self.credentials if c not in exclude]
        if not free:
            raise Overloaded("no credential", retry_after=30)  # the broker only knows the others
        cred = free[0]
        return lease_grant(f"lease-{len(self.acquires)}", cred, lease_ttl_s=0.3)

    async def release(self, release: LeaseRelease) -> None:
        self.releases.append(release)
        self.released.set()

    async def renew(self, lease_id: str, credential_id: str) -> bool:
        return True

    async def next_free_in(self, limit_s: float = 1.0) -> float | None:
        return self.free_in

    @property
    def outcomes(self) -> list[str]:
        return [r.outcome.value for r in self.releases]


_: type[LeaseBroker] = FakeBroker  # mypy: the fake keeps the real `Leasing`'s signatures


Reply = Callable[[httpx.Request], httpx.Response]


def respond(
    frames: Sequence[bytes], *, delay_before: int | None = None, delay: float = 0.0
) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for i, frame in enumerate(frames):
            if delay_before is not None and i == delay_before:
                await asyncio.sleep(delay)
            yield frame

    return httpx.Response(200, content=body())


class FakeKiro:
    """Answers chat calls from a per-call script: each entry is a Response factory."""

    def __init__(self, *script: Reply) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.script[min(len(self.requests), len(self.script)) - 1]
        return reply(request)

    @property
    def tokens(self) -> list[str]:
        return [r.headers["authorization"].removeprefix("Bearer ") for r in self.requests]


def install(
    state: GatewayState,
    broker: FakeBroker,
    kiro: FakeKiro,
    *,
    max_attempts: int = 3,
    ping_interval: float = 5.0,
) -> None:
    metrics: Metrics = state.metrics
    upstream_settings = make_settings(
        kiro_api_base_url="http://kiro.test",
        kiro_region="us-east-1",
        gateway_connect_timeout=1,
        gateway_read_timeout=5,
        gateway_max_connections=10,
    )
    upstream = UpstreamClient(upstream_settings, transport=httpx.MockTransport(kiro))
    state.upstreams = Upstreams(
        broker=broker,
        upstream=upstream,
        metrics=metrics,
        max_attempts=max_attempts,
        lease_wait=1.0,
        ping_interval=ping_interval,
    )


__all__ = ["FakeBroker", "FakeKiro", "RateLimited", "exception_frame", "install", "respond", "text_events"]
