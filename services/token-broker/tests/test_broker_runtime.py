"""The composed broker: readiness follows its connections, and the HTTP side answers the one
`/readyz` body shape of CONTRACTS.md (ready, or not_ready with a reason)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from broker_helpers import make_settings

from kiro_service import Readiness
from kiro_testing import NatsServer, RedisServer
from token_broker import Broker
from token_broker.app import create_app


async def test_readiness_follows_the_connections(
    nats_server: NatsServer,
    redis_server: RedisServer,
    ns: str,
    start_broker: Callable[..., Awaitable[Broker]],
) -> None:
    idle = Broker(make_settings(nats_server, redis_server, ns))
    assert await idle.readiness() == Readiness.failed("NATS not connected")
    broker = await start_broker()
    assert await broker.readiness() == Readiness.ok()
    assert broker.parts is not None and broker.store is broker.parts.store
    await broker.stop()
    assert await broker.readiness() == Readiness.failed("NATS not connected")


async def test_readyz_and_metrics_through_the_one_router(
    nats_server: NatsServer, redis_server: RedisServer, ns: str
) -> None:
    app = create_app(make_settings(nats_server, redis_server, ns))
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: dict[str, object], receive: object, send: object) -> None:
            await app({**scope, "state": dict(state or {})}, receive, send)  # type: ignore[arg-type]

        transport = httpx.ASGITransport(app=with_state)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://broker") as http:
            ready = await http.get("/readyz")
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
            metrics = await http.get("/metrics")  # the broker's port is internal: no key
            assert metrics.status_code == 200 and "kiro_broker_credentials" in metrics.text
            assert (await http.get("/healthz")).json() == {"status": "ok"}
