"""What the lifespan of every admin service opens, and the base of its typed state.

`admin_runtime(...)` opens Redis (every command timed) and the bus client (`kiro_service.bus`;
the service subscribes, then calls `bus.start()`), builds the admin checks
(`AdminAuth`) and the service's `AdminHealth` (ready while NATS is connected and Redis answers;
`/metrics` behind the admin checks), starts the keyless metrics port when one is configured,
yields an `AdminRuntime`, and closes everything in reverse order. The service builds its own
parts on it and yields `kiro_service.lifespan_state(<its AdminState subclass>, runtime.health)`,
the runtime being the state's `admin` part.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from redis.asyncio import Redis
from starlette.requests import Request

from kiro_admin.auth import AdminAuth
from kiro_admin.keys import AdminKeys
from kiro_admin.session import SessionCodec
from kiro_admin.settings import AdminServiceSettings
from kiro_service import Health, registry_metrics, render_metrics
from kiro_service.bus import BusClient
from kiro_service.checks import bus_ready, redis_ready
from kiro_service.metrics import ServiceMetrics
from kiro_service.metrics_port import keyless_metrics
from kiro_service.redisconn import CLIENT_OPTIONS, timed_redis


class AdminHealth(Health):
    """`Health` that also runs the service's drain hooks when the drain begins (SIGTERM): e.g.
    ending live event streams, which would otherwise hold the graceful exit. The hooks run on
    the event loop, whatever thread the signal arrived on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop = asyncio.get_running_loop()
        self._hooks: list[Callable[[], None]] = []

    def on_drain(self, hook: Callable[[], None]) -> None:
        self._hooks.append(hook)

    def begin_drain(self) -> None:
        super().begin_drain()
        for hook in self._hooks:
            self._loop.call_soon_threadsafe(hook)


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminRuntime:
    redis: Redis
    bus: BusClient  # the broker and the events, through the bus table (kiroproto.bus)
    auth: AdminAuth
    health: AdminHealth


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminState:
    """The base of an admin service's lifespan state (`kiro_service.deps`): its admin runtime
    (what `deps.Admin` reads); each service's subclass adds its own parts."""

    admin: AdminRuntime


@asynccontextmanager
async def admin_runtime(
    settings: AdminServiceSettings,
    metrics: ServiceMetrics,
    *,
    service: str,
    session_ttl_s: float,
    metrics_host: str,
    metrics_port: int | None,
) -> AsyncIterator[AdminRuntime]:
    """`service` is the NATS identity (`kiro_service.busconn`: its inbox and permissions)."""
    admin_token = settings.admin_token
    if admin_token is None:
        raise RuntimeError("no admin key: resolve_admin_key runs before the app is built")
    codec = SessionCodec(admin_token.get_secret_value(), settings.session_secret)
    redis = timed_redis(settings.redis_url, metrics, **CLIENT_OPTIONS)
    bus = BusClient(
        settings.nats_url,
        service=service,
        namespace=settings.kiro_bus_namespace,
        observer=metrics.observe_bus,
        on_connection=lambda up: metrics.nats_connected.set(1 if up else 0),
    )
    try:
        try:
            auth = AdminAuth(codec, redis, AdminKeys(settings.kiro_redis_prefix), session_ttl_s)

            async def admin_only(request: Request) -> None:
                await auth.require(request, write=False)  # on the public port: the labels name teams

            health = AdminHealth(
                checks=[bus_ready(bus), redis_ready(redis)],
                metrics=registry_metrics(metrics.registry),
                guard=admin_only,
            )
            render = partial(render_metrics, metrics.registry)
            async with keyless_metrics(render, host=metrics_host, port=metrics_port):
                yield AdminRuntime(redis=redis, bus=bus, auth=auth, health=health)
        finally:
            await bus.close()
    finally:
        await redis.aclose()
