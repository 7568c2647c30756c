"""Typed lifespan state and the dependencies routes use to read it (the `kiro_service.deps`
convention: the lifespan yields `lifespan_state(GatewayState(...), health)`, routes take
`state: State`). Per-request values (request id, key, model, usage) are the request's
`RequestRecord` (record.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.responses import Response

from gateway.bodies import BodyBudget
from gateway.catalogue import PoolCatalogue
from gateway.errors import InvalidRequest
from gateway.failover import Upstreams
from gateway.forwarder import Forwarder
from gateway.key_cache import KeyCache, authenticate
from gateway.leasing import Leasing
from gateway.metrics import Metrics
from gateway.offload import Offloader
from gateway.prepare import parse_json
from gateway.record import record_of
from gateway.settings import Settings
from gateway.traffic import TrafficPublisher
from gateway.usage import UsageReporter
from kiro_service import state_dependency
from kiro_service.bus import BusClient
from kiroproto.errors import ConversionError
from kiroproto.models import FALLBACK_HEADER, ModelMap, ResolvedModel

log = logging.getLogger(__name__)

MAX_FALLBACK_NAMES = 10_000


@dataclass(slots=True)
class GatewayState:
    settings: Settings
    metrics: Metrics
    bus: BusClient  # the NATS connection, used through the bus table
    broker: Leasing  # leases, admissions and the broker ping (leasing.py)
    upstreams: Upstreams
    models: ModelMap  # the operator's map (GATEWAY_MODEL_MAP)
    catalogue: PoolCatalogue  # ... resolved against what the pool offers now
    forwarder: Forwarder
    client_key: bytes
    keys: KeyCache  # team keys (key_cache.py)
    usage_reporter: UsageReporter  # team usage records (usage.py)
    offloader: Offloader  # worker processes for CPU-heavy work (offload.py)
    bodies: BodyBudget  # large request bodies in flight (bodies.py)
    traffic: TrafficPublisher  # the replica's traffic reports for the dashboard (traffic.py)
    fallback_logged: set[str] = field(default_factory=set)  # model names logged as substituted


# Dependencies are `async def` on purpose (kiro_service.deps): a plain `def` dependency costs a
# thread hop per request (measured: ~0.3 ms of the gateway's CPU and latency, README "Performance").
State = Annotated[GatewayState, Depends(state_dependency(GatewayState))]


async def require_client_key(request: Request, state: State) -> None:
    """The operator key, or a live team key (it goes into the request's record)."""
    key = await authenticate(request.headers, state.client_key, state.keys)
    record = record_of(request)
    if key is None:
        record.team = "operator"
    else:
        record.key = key
        record.team = state.metrics.team_label(key.team)


ClientKey = Depends(require_client_key)


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it (small
    bodies only: the chat routes read theirs through bodies.prepare)."""
    return parse_json(await request.body())


def resolve_model(state: GatewayState, name: str) -> ResolvedModel:
    try:
        resolved = state.catalogue.current.resolve(name)
    except ConversionError as exc:
        raise InvalidRequest(exc.message) from exc
    return note_model(state, name, resolved)


def note_model(state: GatewayState, name: str, resolved: ResolvedModel) -> ResolvedModel:
    """Log once per name that a substitute model serves it (resolution may run in a worker)."""
    if resolved.fallback and name not in state.fallback_logged:
        if len(state.fallback_logged) > MAX_FALLBACK_NAMES:
            state.fallback_logged.clear()
        state.fallback_logged.add(name)
        log.warning(
            "model not offered by the pool; serving a substitute (header x-kiro2api-model-fallback)",
            extra={"requested": name, "kiro_model": resolved.kiro_id},
        )
    return resolved


def mark_fallback(response: Response, model: ResolvedModel) -> Response:
    """`x-kiro2api-model-fallback: <requested> -> <served>` when a substitute serves (never silently)."""
    if model.fallback:
        response.headers[FALLBACK_HEADER] = model.fallback_header
    return response
