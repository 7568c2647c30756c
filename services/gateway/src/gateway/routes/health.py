"""`/healthz` (the process is up), `/readyz` (NATS connected, broker answering), `/metrics`."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from gateway.deps import State
from kiro_service import render_metrics

router = APIRouter()


@router.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get("/readyz")
async def readyz(state: State) -> Response:
    broker = state["broker"]
    nats_ok = broker.connected
    pong = await broker.ping() if nats_ok else None
    ready = nats_ok and pong is not None
    body = {"status": "ready" if ready else "not ready", "nats": nats_ok, "broker": pong is not None}
    return Response(orjson.dumps(body), status_code=200 if ready else 503, media_type="application/json")


@router.get("/metrics")
async def metrics(state: State) -> Response:
    return Response(render_metrics(state["metrics"].registry), media_type=CONTENT_TYPE_LATEST)
