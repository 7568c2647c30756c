"""Typed lifespan state and the dependencies routes use to read it."""

from __future__ import annotations

import logging
from typing import Annotated, Any, TypedDict, TypeVar, cast

import orjson
from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from gateway.errors import InvalidRequest, invalid_from_validation
from gateway.failover import Upstreams
from gateway.keys import KeyCache, authenticate
from gateway.lease import BrokerClient
from gateway.media.cache import MediaCache
from gateway.metrics import Metrics
from gateway.offload import Offloader
from gateway.proxy import Forwarder
from gateway.settings import Settings
from gateway.usage import UsageReporter
from kiroproto.errors import ConversionError
from kiroproto.models import ModelMap, ResolvedModel

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class GatewayState(TypedDict):
    settings: Settings
    metrics: Metrics
    broker: BrokerClient
    upstreams: Upstreams
    models: ModelMap
    forwarder: Forwarder
    client_key: bytes
    fallback_logged: set[str]
    keys: KeyCache  # team keys (keys.py)
    usage_reporter: UsageReporter  # team usage records (usage.py)
    offloader: Offloader  # CPU-heavy work in worker processes (offload.py): PDFs, images
    media_cache: MediaCache  # converted PDFs and images by digest (media/cache.py)


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker
# thread, a thread hop per dependency per request (measured: ~0.3 ms of the gateway's CPU and
# latency per request, see README "Performance").
async def get_state(request: Request) -> GatewayState:
    return cast(GatewayState, request.scope["state"])


State = Annotated[GatewayState, Depends(get_state)]


async def require_client_key(request: Request, state: State) -> None:
    """The operator key, or a live team key (its record goes to `request.state.team_key`)."""
    key = await authenticate(request.headers, state["client_key"], state["keys"])
    if key is None:
        request.state.team = "operator"
    else:
        request.state.team_key = key
        request.state.team = state["metrics"].team_label(key.team)


ClientKey = Depends(require_client_key)


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    body = await request.body()
    if not body.strip():
        raise InvalidRequest("request body is empty: expected a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    if not isinstance(data, dict):
        raise InvalidRequest(f"request body must be a JSON object, not {type(data).__name__}")
    return data


def parse_as(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_from_validation(exc) from exc


def resolve_model(state: GatewayState, name: str) -> ResolvedModel:
    try:
        resolved = state["models"].resolve(name)
    except ConversionError as exc:
        raise InvalidRequest(exc.message) from exc
    if resolved.fallback and name not in state["fallback_logged"]:
        state["fallback_logged"].add(name)
        log.info(
            "model name not configured; using a substitute",
            extra={"requested": name, "kiro_model": resolved.kiro_id},
        )
    return resolved
