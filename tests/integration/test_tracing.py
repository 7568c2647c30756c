"""One trace spans the gateway and the broker: the gateway and the broker run in-process with an
in-memory span exporter, over the real nats-server and redis-server, against the simulator. The
first credential answers 500, so the request fails over: one attempt span per upstream attempt."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.types import Receive, Scope, Send

import gateway.app
import gateway.settings
import token_broker.app
import token_broker.settings
from kiro_testing import NatsServer, RedisServer
from kiro_testing.polling import apoll
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import CLIENT_TOKEN

pytestmark = pytest.mark.integration


@asynccontextmanager
async def in_process(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan and talk to it over ASGI (lifespan state copied into each scope)."""
    async with app.router.lifespan_context(app) as lifespan_state:
        state = dict(lifespan_state or {})

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                scope = {**scope, "state": dict(state)}
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://app", timeout=30.0) as client:
            yield client


async def test_one_trace_spans_gateway_and_broker_with_a_span_per_attempt(
    sim: Sim, nats_server: NatsServer, redis_server: RedisServer
) -> None:
    failing, healthy = sim.add_account(), sim.add_account()
    sim.script(account_id=failing["id"], mode="fault", times=1, script={"error": "internal"})
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tag = uuid.uuid4().hex[:8]
    creds = [credential(failing, priority=0), credential(healthy, priority=1)]
    broker_settings = token_broker.settings.Settings(
        _env_file=None,
        kiro_auth_token=orjson.dumps(creds).decode(),
        nats_url=nats_server.url,
        redis_url=redis_server.url,
        kiro_bus_namespace=f"tr{tag}",
        kiro_redis_prefix=f"tr{tag}",
        kiro_api_base_url=sim.url,
        kiro_auth_base_url=sim.url,
        kiro_oidc_base_url=sim.url,
        broker_usage_poll_interval=0,
    )
    gateway_settings = gateway.settings.Settings(
        _env_file=None,
        kiro_client_token=CLIENT_TOKEN,
        nats_url=nats_server.url,
        kiro_bus_namespace=f"tr{tag}",
        kiro_api_base_url=sim.url,
        session_pool_wait=5.0,
    )
    broker_app = token_broker.app.create_app(broker_settings, tracer_provider=provider)
    gateway_app = gateway.app.create_app(gateway_settings, tracer_provider=provider)
    async with in_process(broker_app), in_process(gateway_app) as client:

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await apoll(ready, message="gateway ready (NATS connected, broker answering)")
        exporter.clear()
        body = {
            "model": "claude-sonnet-4-6",
            "max_tokens": 32,
            "stream": True,
            "messages": [{"role": "user", "content": "trace me"}],
        }
        response = await client.post("/v1/messages", json=body, headers={"x-api-key": CLIENT_TOKEN})
        assert response.status_code == 200 and "message_stop" in response.text

        def finished() -> list[ReadableSpan] | None:
            spans = list(exporter.get_finished_spans())
            releases = [s for s in spans if s.name == "kiro.broker LeaseRelease"]
            return spans if len(releases) == 2 else None

        spans: list[ReadableSpan] = await apoll(finished, within=10.0, message="both releases traced")

    # The gateway's background catalogue refresh (`pool_models`) is its own trace, not the request's.
    spans = [s for s in spans if s.name != "kiro.broker PoolModelsRequest"]
    (root,) = [s for s in spans if s.name == "POST /v1/messages"]
    assert root.kind == SpanKind.SERVER and root.parent is None
    assert root.context is not None
    trace_id = root.context.trace_id
    assert {s.context.trace_id for s in spans if s.context is not None} == {trace_id}
    attrs = dict(root.attributes or {})
    assert attrs["gen_ai.request.model"] == "claude-sonnet-4-6"
    assert attrs["gen_ai.response.model"] == "claude-sonnet-4.6"
    assert (
        int(str(attrs["gen_ai.usage.input_tokens"])) > 0 and int(str(attrs["gen_ai.usage.output_tokens"])) > 0
    )
    assert attrs["http.response.status_code"] == 200

    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    attempts = sorted((s for s in spans if s.name.startswith("kiro.upstream.attempt")), key=lambda s: s.name)
    assert [s.name for s in attempts] == ["kiro.upstream.attempt 1", "kiro.upstream.attempt 2"]
    assert all(s.parent is not None and s.parent.span_id == root.context.span_id for s in attempts)
    first, second = (dict(s.attributes or {}) for s in attempts)
    assert first["kiro.failure_class"] == "server_error" and first["http.response.status_code"] == 500
    assert second["kiro.failure_class"] == "none" and second["http.response.status_code"] == 200
    assert first["kiro.credential.hash"] != second["kiro.credential.hash"]
    assert failing["id"] not in str(first["kiro.credential.hash"])

    handled = [s for s in spans if s.name == "kiro.broker LeaseRequest"]
    assert len(handled) == 2  # the broker's handling joins the trace, under the gateway's bus span
    for span in handled:
        assert span.kind == SpanKind.SERVER and span.parent is not None
        parent = by_id[span.parent.span_id]
        assert parent.name == "kiro.bus lease_acquire" and parent.parent is not None
        assert parent.parent.span_id == root.context.span_id
    (stream,) = [s for s in spans if s.name == "kiro.stream"]
    assert stream.parent is not None and stream.parent.span_id == root.context.span_id
    provider.shutdown()
