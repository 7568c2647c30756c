"""The broker on the bus: a `nats.micro` service `token-broker`, every endpoint with an explicit
subject in the queue group `token-broker` (kiroproto.bus).

nats-py runs a subscription's callback for one message at a time, and a lease request may
wait up to `SESSION_POOL_WAIT` for a slot, so each endpoint handler does nothing but
spawns a task that does the work and replies; the task set is what SIGTERM drains.
Malformed requests get a micro error `400`; Redis unavailable `503`; a bug `500` (logged)
(`ServiceErrorCode` of the table). Every endpoint comes from `kiroproto.bus.BROKER_ENDPOINTS`,
decoded with its request model; the answering function returns its reply model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from nats.micro import add_service
from nats.micro.request import Request
from pydantic import ValidationError
from redis.exceptions import RedisError

from kiroproto.bus import (
    BROKER_ENDPOINTS,
    BROKER_PING,
    BROKER_QUEUE_GROUP,
    CREDENTIAL_ACTION,
    CREDENTIAL_ADD,
    KEY_CREATE,
    KEY_LIST,
    KEY_LOOKUP,
    KEY_REVOKE,
    KEY_UPDATE,
    LEASE_ACQUIRE,
    LEASE_RELEASE,
    LEASE_RENEW,
    POOL_MODELS,
    POOL_STATUS,
    USAGE_QUERY,
    USAGE_RECORD,
    Ack,
    BrokerPing,
    BrokerPong,
    LeaseAdmitted,
    LeaseRelease,
    LeaseRenew,
    LeaseReplyEnvelope,
    LeaseRequest,
    LimitState,
    PoolModels,
    PoolModelsRequest,
    PoolStatus,
    PoolStatusRequest,
    ServiceErrorCode,
)
from token_broker.admin import Admin
from token_broker.bus_route import AnyRoute, route
from token_broker.catalogue import Catalogues
from token_broker.errors import InvalidBusRequest
from token_broker.leases import LeaseManager
from token_broker.shared import Shared
from token_broker.status import pool_status
from token_broker.store import CredentialStore
from token_broker.team_service import TeamService

log = logging.getLogger(__name__)

SERVICE_NAME = "token-broker"
SERVICE_VERSION = "0.1.0"


@dataclass(slots=True, kw_only=True)
class BrokerService:
    nc: Any
    shared: Shared  # settings, metrics, subjects, telemetry, the handlers in flight
    leases: LeaseManager
    admin: Admin
    store: CredentialStore
    teams: TeamService | None = None
    catalogues: Catalogues | None = None
    _service: Any = field(default=None, init=False)
    _lease_sub: Any = field(default=None, init=False)

    async def start(self) -> None:
        s, settings = self.shared.subjects, self.shared.settings
        self._lease_sub = await self.nc.subscribe(s.events_lease, cb=self._on_lease_event)
        self._service = await add_service(
            self.nc,
            name=SERVICE_NAME,
            version=SERVICE_VERSION,
            description="Kiro credential leases, refresh and pool state",
            queue_group=BROKER_QUEUE_GROUP,
            metadata={"instance": settings.broker_instance_id, "namespace": s.namespace},
        )
        routes = {route.endpoint.name: route for route in self.routes()}
        for endpoint in BROKER_ENDPOINTS:  # in the table's order; team endpoints only with teams
            route = routes.pop(endpoint.name, None)
            if route is None:
                continue
            await self._service.add_endpoint(
                name=endpoint.name,
                subject=endpoint.subject(s.namespace),
                handler=self._handler(route),
                queue_group=BROKER_QUEUE_GROUP,
            )
        assert not routes, f"routes outside the bus table: {sorted(routes)}"
        await self.nc.flush()

    async def stop(self) -> None:
        """Stop taking requests (other replicas in the queue group get them from now on)."""
        if self._service is not None:
            await self._service.stop()
            self._service = None
        if self._lease_sub is not None:
            await self._lease_sub.unsubscribe()
            self._lease_sub = None

    def routes(self) -> list[AnyRoute]:
        """Every endpoint this broker answers, bound to its function (mypy checks the pairing)."""
        routes = [
            route(LEASE_ACQUIRE, self._acquire),
            route(LEASE_RELEASE, self._release),
            route(LEASE_RENEW, self._renew),
            route(POOL_STATUS, self._status),
            route(CREDENTIAL_ADD, self.admin.add),
            route(CREDENTIAL_ACTION, self.admin.action),
            route(BROKER_PING, self._ping),
            route(POOL_MODELS, self._models),
        ]
        if self.teams is not None:  # team keys and usage (team_service.py)
            keys, usage = self.teams.directory, self.teams.usage
            routes += [
                route(KEY_CREATE, keys.create),
                route(KEY_LIST, keys.list),
                route(KEY_UPDATE, keys.update),
                route(KEY_REVOKE, keys.revoke),
                route(KEY_LOOKUP, keys.lookup),
                route(USAGE_RECORD, usage.record_batch),
                route(USAGE_QUERY, usage.query),
            ]
        return routes

    # ---- plumbing
    def _handler(self, route: AnyRoute) -> Callable[[Request], Awaitable[None]]:
        label = route.endpoint.request.__name__  # metric and span label (the request model)

        async def handler(req: Request) -> None:
            self.shared.handlers.spawn(self._observed(req, route, label), name=f"handle-{label}")

        return handler

    async def _observed(self, req: Request, route: AnyRoute, label: str) -> None:
        """`_handle` inside a span joined to the caller's trace, timed per endpoint."""
        started = time.perf_counter()
        with self.shared.telemetry.handling(label, req.headers):
            await self._handle(req, route, label)
        self.shared.metrics.nats_request_duration.labels(label).observe(time.perf_counter() - started)

    async def _refuse(self, req: Request, label: str, code: ServiceErrorCode, description: str) -> None:
        self.shared.metrics.nats_errors.labels(label, str(int(code))).inc()
        await req.respond_error(str(int(code)), description)

    async def _handle(self, req: Request, route: AnyRoute, label: str) -> None:
        try:
            msg = route.endpoint.request.model_validate_json(req.data or b"{}")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
            )
            await self._refuse(req, label, ServiceErrorCode.BAD_REQUEST, f"invalid {label}: {problems}")
            return
        try:
            reply = await route.answer(msg)
        except InvalidBusRequest as exc:
            await self._refuse(req, label, ServiceErrorCode.BAD_REQUEST, str(exc))
            return
        except RedisError as exc:
            log.error("redis unavailable while handling %s: %s", label, type(exc).__name__)
            await self._refuse(req, label, ServiceErrorCode.UNAVAILABLE, "the broker cannot reach Redis")
            return
        except Exception:
            log.exception("bug while handling %s", label)
            await self._refuse(req, label, ServiceErrorCode.INTERNAL, "internal broker error")
            return
        await req.respond(reply.model_dump_json().encode())

    async def _on_lease_event(self, _msg: Any) -> None:
        self.leases.waker.wake()

    # ---- endpoints
    async def _acquire(self, req: LeaseRequest) -> LeaseReplyEnvelope:
        if req.admission_only or req.reused_lease:  # no new lease: count_tokens, or a reused slot
            if req.admission is None or self.teams is None:
                return LeaseReplyEnvelope(reply=LeaseAdmitted(limits=LimitState()))
            return LeaseReplyEnvelope(reply=await self.teams.limits.admit_only(req))
        if req.admission is not None and self.teams is not None:  # team key: limits first
            return LeaseReplyEnvelope(reply=await self.teams.limits.acquire(req, self.leases.acquire))
        return LeaseReplyEnvelope(reply=await self.leases.acquire(req))

    async def _release(self, req: LeaseRelease) -> Ack:
        await self.leases.release(req)
        return Ack()

    async def _renew(self, req: LeaseRenew) -> Ack:
        if await self.leases.renew(req):
            return Ack()
        return Ack(ok=False, message="unknown or expired lease")

    async def _status(self, _req: PoolStatusRequest) -> PoolStatus:
        return await pool_status(self.store, self.shared.settings, self.shared.metrics, self.catalogues)

    async def _models(self, _req: PoolModelsRequest) -> PoolModels:
        if self.catalogues is None:
            return PoolModels()
        return await self.catalogues.pool_models()

    async def _ping(self, _req: BrokerPing) -> BrokerPong:
        try:
            redis_ok = bool(await self.store.redis.ping())
        except RedisError:
            redis_ok = False
        return BrokerPong(instance_id=self.shared.settings.broker_instance_id, redis_ok=redis_ok)
