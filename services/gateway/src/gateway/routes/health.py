"""`/healthz` (the process is up), `/readyz` (NATS connected, broker answering), `/metrics`
(admin key on the public port; keyless on `GATEWAY_METRICS_PORT`)."""

from __future__ import annotations

import hmac

import orjson
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from gateway.deps import State
from gateway.errors import AuthenticationFailed
from kiro_service import render_metrics

router = APIRouter()


@router.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get("/readyz")
async def readyz(state: State) -> Response:
    nats_ok = state["bus"].connected
    pong = await state["broker"].ping() if nats_ok else None
    ready = nats_ok and pong is not None
    body = {"status": "ready" if ready else "not ready", "nats": nats_ok, "broker": pong is not None}
    return Response(orjson.dumps(body), status_code=200 if ready else 503, media_type="application/json")


@router.get("/metrics")
async def metrics(request: Request, state: State) -> Response:
    """On the public port: the admin key (`Authorization: Bearer $KIRO_ADMIN_TOKEN`); the labels
    name teams. Prometheus scrapes `GATEWAY_METRICS_PORT` instead (no key, not public)."""
    admin = state["settings"].kiro_admin_token
    presented = bearer(request.headers.get("authorization"))
    if (
        admin is None
        or presented is None
        or not hmac.compare_digest(presented.encode("utf-8"), admin.get_secret_value().encode("utf-8"))
    ):
        raise AuthenticationFailed(
            "/metrics on the public port needs the admin key (Authorization: Bearer); "
            "Prometheus scrapes GATEWAY_METRICS_PORT"
        )
    return Response(render_metrics(state["metrics"].registry), media_type=CONTENT_TYPE_LATEST)


def bearer(header: str | None) -> str | None:
    scheme, _, value = (header or "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
