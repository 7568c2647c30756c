"""The service skeleton: shared settings, the one health router, typed lifespan state, and a
real process's graceful SIGTERM (readiness false, drain, exit 0)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from prometheus_client import CollectorRegistry, Counter
from pydantic import SecretStr, ValidationError
from starlette.types import Message, Receive, Scope, Send

from kiro_service import (
    Health,
    HttpMiddleware,
    MetricsPort,
    Readiness,
    ServiceSettings,
    UpstreamSettings,
    admin_key_guard,
    content_length,
    describe_settings_error,
    health_routes,
    lifespan_state,
    load_settings,
    registry_metrics,
    state_dependency,
)
from kiro_service.metrics import BoundedLabel
from kiro_testing.processes import free_port, refuses_connections

ADMIN = "skeleton-admin-key-0123456789"


def test_log_level_is_parsed_once_for_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "warn")
    assert ServiceSettings().log_level == "WARNING"
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(ValidationError) as caught:
        ServiceSettings()
    line = describe_settings_error(caught.value)
    assert line.startswith("invalid configuration: LOG_LEVEL: LOG_LEVEL must be one of")
    assert "chatty" in line  # the level is no secret; secrets are never echoed (below)


def test_blank_values_are_unset_and_secrets_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIRO_ADMIN_TOKEN", "  ")
    monkeypatch.setenv("PROXY_POOL", "")
    settings = UpstreamSettings()
    assert settings.kiro_admin_token is None and settings.proxies == ()
    monkeypatch.setenv("KIRO_SECRET_KEY", "not-base64-secret-value")
    with pytest.raises(ValidationError) as caught:
        ServiceSettings()
    line = describe_settings_error(caught.value)
    assert "KIRO_SECRET_KEY" in line and "not-base64-secret-value" not in line


def test_a_blank_metrics_port_is_off_and_a_bad_one_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Svc(ServiceSettings):
        svc_metrics_port: MetricsPort = None

    monkeypatch.setenv("SVC_METRICS_PORT", " ")
    assert Svc().svc_metrics_port is None
    monkeypatch.setenv("SVC_METRICS_PORT", "9180")
    assert Svc().svc_metrics_port == 9180
    monkeypatch.setenv("SVC_METRICS_PORT", "70000")
    with pytest.raises(ValidationError):
        Svc()


def test_bounded_labels() -> None:
    label = BoundedLabel(2)
    assert [label(t) for t in ("a", "b", "c", "a")] == ["a", "b", "other", "a"]


def test_load_settings_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "loud")
    with pytest.raises(SystemExit) as caught:
        load_settings(ServiceSettings, "svc")
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("svc: invalid configuration: LOG_LEVEL") and err.count("\n") == 1


def test_content_length() -> None:
    assert content_length({"headers": [(b"content-length", b"12")]}) == 12
    assert content_length({"headers": [(b"content-length", b"x")]}) is None
    assert content_length({"headers": []}) is None


async def test_http_middleware_sees_http_only() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append("app:" + scope["type"])

    class Tag(HttpMiddleware):
        async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.append("handle")
            await self.app(scope, receive, send)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        return None

    middleware = Tag(app)
    await middleware({"type": "lifespan"}, receive, send)
    await middleware({"type": "http"}, receive, send)
    assert seen == ["app:lifespan", "handle", "app:http"]


@dataclass
class DemoState:
    name: str


State = Annotated[DemoState, Depends(state_dependency(DemoState))]


def _app(checks: list[Readiness], health_out: list[Health]) -> FastAPI:
    registry = CollectorRegistry()
    Counter("demo_total", "demo", registry=registry).inc()

    async def check() -> Readiness:
        return checks[0]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        health = Health(
            checks=[check], metrics=registry_metrics(registry), guard=admin_key_guard(SecretStr(ADMIN))
        )
        health_out.append(health)
        yield lifespan_state(DemoState("demo"), health)

    app = FastAPI(lifespan=lifespan)
    app.router.routes.extend(health_routes())

    @app.get("/name")
    async def name(state: State) -> dict[str, str]:
        return {"name": state.name}

    return app


async def test_one_readiness_shape_metrics_guard_and_typed_state() -> None:
    checks = [Readiness.ok()]
    healths: list[Health] = []
    app = _app(checks, healths)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            await app({**scope, "state": dict(state or {})}, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            ready = await http.get("/readyz")
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
            checks[0] = Readiness.failed("redis unreachable")
            not_ready = await http.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json() == {"status": "not_ready", "reason": "redis unreachable"}
            checks[0] = Readiness.ok()
            healths[0].begin_drain()
            assert (await http.get("/readyz")).json() == {"status": "not_ready", "reason": "draining"}
            assert (await http.get("/metrics")).status_code == 401
            wrong = await http.get("/metrics", headers={"authorization": "Bearer nope"})
            assert wrong.status_code == 401
            scraped = await http.get("/metrics", headers={"authorization": f"Bearer {ADMIN}"})
            assert scraped.status_code == 200 and "demo_total 1.0" in scraped.text
            assert (await http.get("/name")).json() == {"name": "demo"}


async def test_readyz_before_the_lifespan_is_not_ready() -> None:
    app = _app([Readiness.ok()], [])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "reason": "starting"}


_SERVICE = textwrap.dedent(
    """
    import asyncio, sys
    from contextlib import asynccontextmanager
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from kiro_service import Health, Listen, health_routes, lifespan_state, serve
    from kiro_service.health import health_of

    async def slow(request):
        await asyncio.sleep(float(request.query_params["s"]))
        return PlainTextResponse(f"done draining={health_of(request).draining}")

    @asynccontextmanager
    async def lifespan(app):
        yield lifespan_state(object(), Health())
        print("lifespan closed", flush=True)

    app = Starlette(routes=[*health_routes(), Route("/slow", slow)], lifespan=lifespan)
    sys.exit(serve(app, Listen("demo", "127.0.0.1", int(sys.argv[1]), grace_s=10)))
    """
)


async def test_sigterm_closes_the_listener_drains_and_exits_zero(tmp_path: Path) -> None:
    script = tmp_path / "svc.py"
    script.write_text(_SERVICE, encoding="utf-8")
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "svc.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603, ASYNC220 - our own interpreter and script, started once
            [sys.executable, str(script), str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the service never became ready"
                await asyncio.sleep(0.05)
            slow = asyncio.create_task(http.get("/slow", params={"s": "1.5"}, timeout=10))
            await asyncio.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 3
            while not refuses_connections(port):
                assert time.monotonic() < deadline, "listener still open after SIGTERM"
                await asyncio.sleep(0.05)
            response = await slow
            assert (response.status_code, response.text) == (200, "done draining=True")
        assert await asyncio.to_thread(proc.wait, 15) == 0
        assert "lifespan closed" in log.read_text(encoding="utf-8")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
