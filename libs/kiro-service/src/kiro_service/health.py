"""`/healthz`, `/readyz` and `/metrics`: one set of routes for every service.

- `GET /healthz`: 200 `{"status": "ok"}` while the process serves HTTP at all.
- `GET /readyz`: 200 `{"status": "ready"}` or 503 `{"status": "not_ready", "reason": "…"}`
  (CONTRACTS.md), the same body on every service. Not ready while the service drains
  (SIGTERM, `serve.py`), before its lifespan has started, or when one of its checks says so
  (the first failing check's reason is the answer).
- `GET /metrics`: the Prometheus text. On the public port the service's guard decides (the
  admin key, `Authorization: Bearer`: `admin_key_guard`); Prometheus scrapes the keyless,
  non-public port of `metrics_port.py` instead. A `Health` without a guard serves it keyless
  (a port that is internal only, e.g. the broker's); without metrics it is 404.

What the routes read is one `Health` object the service's lifespan builds (its checks need
the connections the lifespan opens) and yields with `deps.lifespan_state`; `serve.py` finds it
there to turn readiness off first on SIGTERM.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kiro_service.metrics import render_metrics

HEALTH_KEY = "kiro_health"  # where the lifespan state keeps the `Health` (deps.lifespan_state)
CHECK_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class Readiness:
    """One check's answer: ready, or not and why (a short phrase, shown in `/readyz`)."""

    ready: bool
    reason: str = ""

    @classmethod
    def ok(cls) -> Readiness:
        return cls(True)

    @classmethod
    def failed(cls, reason: str) -> Readiness:
        return cls(False, reason)


ReadinessCheck = Callable[[], Awaitable[Readiness]]
MetricsGuard = Callable[[Request], Awaitable[None]]
"""Refuses a `/metrics` request on the public port by raising (the service renders it)."""
MetricsRender = Callable[[], Awaitable[bytes]]


class Health:
    """The probes of one running service: its readiness checks, the drain flag, how to render
    its metrics and who may read them on the public port."""

    def __init__(
        self,
        *,
        checks: Sequence[ReadinessCheck] = (),
        metrics: MetricsRender | None = None,
        guard: MetricsGuard | None = None,
    ) -> None:
        self._checks = tuple(checks)
        self._metrics = metrics
        self._guard = guard
        self._draining = False

    @property
    def draining(self) -> bool:
        return self._draining

    def begin_drain(self) -> None:
        """From now on `/readyz` answers 503 `draining` (called by `serve.py` on SIGTERM)."""
        self._draining = True

    async def readiness(self) -> Readiness:
        if self._draining:
            return Readiness.failed("draining")
        for check in self._checks:
            try:
                result = await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
            except TimeoutError:
                result = Readiness.failed(f"readiness check timed out after {CHECK_TIMEOUT_S:g}s")
            except Exception as exc:  # a probe answers; a check that broke is a reason, not a 500
                result = Readiness.failed(f"readiness check failed: {type(exc).__name__}")
            if not result.ready:
                return result
        return Readiness.ok()

    async def guard(self, request: Request) -> None:
        if self._guard is not None:
            await self._guard(request)

    @property
    def has_metrics(self) -> bool:
        return self._metrics is not None

    async def render(self) -> bytes:
        return b"" if self._metrics is None else await self._metrics()


def registry_metrics(
    registry: CollectorRegistry, before: Callable[[], Awaitable[None]] | None = None
) -> MetricsRender:
    """A `MetricsRender` for a service's registry; `before` refreshes gauges per scrape."""

    async def render() -> bytes:
        if before is not None:
            await before()
        return render_metrics(registry)

    return render


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    scheme, _, value = (header or "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def admin_key_matches(request: Request, admin: SecretStr | None) -> bool:
    """The request carries `Authorization: Bearer <admin key>` (constant-time); never when no
    admin key is configured."""
    presented = bearer(request.headers.get("authorization"))
    if admin is None or presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), admin.get_secret_value().encode("utf-8"))


class MetricsRefused(Exception):
    """The default guard's refusal: answered 401 `{"error": "…"}` by `health_routes`."""


def admin_key_guard(
    admin: SecretStr | None, refuse: Callable[[str], Exception] = MetricsRefused
) -> MetricsGuard:
    """The public-port guard: the admin key as a Bearer token, else `refuse(message)` is raised."""

    async def guard(request: Request) -> None:
        if not admin_key_matches(request, admin):
            raise refuse(
                "/metrics on the public port needs the admin key (Authorization: Bearer); "
                "Prometheus scrapes the service's metrics port"
            )

    return guard


def health_of(request: Request) -> Health | None:
    value = request.scope.get("state", {}).get(HEALTH_KEY)
    return value if isinstance(value, Health) else None


_JSON = "application/json"


async def healthz(_request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type=_JSON)


async def readyz(request: Request) -> Response:
    health = health_of(request)
    result = Readiness.failed("starting") if health is None else await health.readiness()
    if result.ready:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "not_ready", "reason": result.reason or "not ready"}, status_code=503)


async def metrics(request: Request) -> Response:
    health = health_of(request)
    if health is None:
        return JSONResponse({"status": "not_ready", "reason": "starting"}, status_code=503)
    if not health.has_metrics:
        return JSONResponse({"error": "this service keeps no metrics"}, status_code=404)
    try:
        await health.guard(request)
    except MetricsRefused as exc:
        return JSONResponse({"error": str(exc)}, status_code=401)
    return Response(await health.render(), media_type=CONTENT_TYPE_LATEST)


def health_routes() -> list[BaseRoute]:
    """The three routes, for `Starlette(routes=...)` or a FastAPI app's `router.routes`."""
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
