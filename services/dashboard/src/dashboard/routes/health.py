"""`/healthz` (the process is up), `/readyz` (NATS connected, Redis answering), `/metrics`
(admin key here; keyless on `DASHBOARD_METRICS_PORT`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from dashboard.deps import AppState
from kiro_service import render_metrics

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: AppState) -> JSONResponse:
    nats_ok = state["bus"].connected
    try:
        redis_ok = bool(await state["redis"].ping())
    except RedisError:
        redis_ok = False
    ready = nats_ok and redis_ok
    return JSONResponse(
        {"ready": ready, "nats": nats_ok, "redis": redis_ok}, status_code=200 if ready else 503
    )


@router.get("/metrics")
async def metrics(request: Request, state: AppState) -> Response:
    """The admin key here (this port is reached through the public origin: the labels name
    teams); Prometheus scrapes the keyless `DASHBOARD_METRICS_PORT` instead."""
    await state["auth"].require(request, write=False)
    return Response(render_metrics(state["metrics"].registry), media_type=CONTENT_TYPE_LATEST)
