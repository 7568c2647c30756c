"""One broker instance: its connections and components, composed and started in order.

Read it top to bottom:

1. `connect_redis` and `connect_nats` open the two connections (Redis answers a PING; NATS
   reconnects forever, its callbacks feed readiness through `NatsLink`);
2. `BrokerParts` builds every component from them, in dependency order, without any I/O:
   store → HTTP clients → events → file mirror → refresher → usage checker → catalogues →
   leases → admin → teams → the NATS service → the periodic jobs;
3. `bring_up` starts them in order: seal plain records, restore from `OAUTH_TOKEN_FILE` (an
   empty Redis), merge the configured credentials, start the configuration authority (it
   needs what the merge found), rewrite the mirror, serve on NATS, start the jobs;
4. `Broker.stop` undoes it in reverse: stop taking requests, let the handlers in flight finish
   (`BROKER_DRAIN_TIMEOUT`; waiting lease requests give up at once with `pool_busy`), store the
   rotations Redis has not taken yet, cancel the background tasks, close NATS, the HTTP clients
   and Redis.

Tests run several instances in one process against one Redis.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from kiro_service import Readiness, busconn
from kiro_service.redisconn import CLIENT_OPTIONS, command_retry
from kiroproto.bus import Subjects
from token_broker.admin import Admin
from token_broker.catalogue import Catalogues
from token_broker.clients import HttpClients
from token_broker.config import ConfigAuthority
from token_broker.credential_quota import QuotaChecker
from token_broker.crypto import SecretBox
from token_broker.events import EventPublisher
from token_broker.jobs import PeriodicJobs
from token_broker.keys import RedisKeys
from token_broker.leases import LeaseManager
from token_broker.metrics import BrokerMetrics
from token_broker.mirror import TokenFileMirror
from token_broker.refresh import Refresher
from token_broker.scripts import Scripts
from token_broker.service import BrokerService
from token_broker.settings import Settings
from token_broker.shared import Shared
from token_broker.status import pool_status
from token_broker.store import CredentialStore, LoadReport
from token_broker.tasks import TaskSet
from token_broker.team_service import TeamService
from token_broker.telemetry import Telemetry

log = logging.getLogger(__name__)


class NatsLink:
    """The NATS connection's state as its callbacks report it (readiness)."""

    def __init__(self) -> None:
        self.connected = False
        self.stopping = False

    async def on_disconnected(self) -> None:
        self.connected = False
        if not self.stopping:
            log.warning("NATS disconnected")

    async def on_reconnected(self) -> None:
        self.connected = True
        log.info("NATS reconnected")

    async def on_error(self, exc: Exception) -> None:
        log.warning("NATS error: %s", exc)

    on_closed = on_disconnected


async def connect_redis(settings: Settings) -> Redis:
    # A burst of lease requests waits for a free connection instead of failing: the default
    # pool raises MaxConnectionsError past 100 commands in flight, which bench/gateway.py's
    # 200+ concurrent streams turned into 529s for the clients. A dead pooled socket is
    # replaced and the command sent again (the scripts that could see a repeat are idempotent
    # or only leak a lease until its TTL).
    pool = BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=100, timeout=5.0, retry=command_retry(), **CLIENT_OPTIONS
    )
    redis = Redis.from_pool(pool)
    await redis.ping()
    return redis


async def connect_nats(settings: Settings, link: NatsLink) -> NatsClient:
    name = f"token-broker-{settings.broker_instance_id}"
    nc = await busconn.connect_nats(settings.nats_url, "broker", link, name=name, settings=settings)
    link.connected = True
    return nc


class BrokerParts:
    """Every component of a running broker, each built from the ones above it (those the broker
    uses again are kept as attributes). No I/O happens here."""

    def __init__(self, shared: Shared, redis: Redis, nc: NatsClient) -> None:
        s, metrics, tasks, subjects = shared.settings, shared.metrics, shared.background, shared.subjects
        self.redis = redis
        scripts = Scripts(redis, metrics.observe_redis)
        self.store = store = CredentialStore(redis, scripts, shared.keys, SecretBox(s.secret_key_bytes))
        self.clients = clients = HttpClients(s.broker_http_timeout, shared.transport)
        self.events = events = EventPublisher(nc, subjects)
        self.refresher = refresher = Refresher(
            settings=s,
            mirror=TokenFileMirror(s.oauth_token_file, store) if s.oauth_token_file else None,
            store=store,
            clients=clients,
            events=events,
            metrics=metrics,
            tasks=tasks,
        )
        self.mirror = mirror = refresher.mirror
        usage = QuotaChecker(store=store, refresher=refresher, metrics=metrics, tasks=tasks)
        self.catalogues = catalogues = Catalogues(
            store=store, refresher=refresher, events=events, tasks=tasks
        )
        self.leases = leases = LeaseManager(
            settings=s,
            store=store,
            refresher=refresher,
            events=events,
            metrics=metrics,
            usage=usage,
            catalogues=catalogues,
        )
        self.teams = teams = TeamService(
            redis=redis,
            scripts=scripts,
            prefix=s.kiro_redis_prefix,
            nc=nc,
            subjects=subjects,
            metrics=metrics,
            slot_ttl_s=s.broker_team_slot_ttl,
        )
        admin = Admin(
            store=store, refresher=refresher, usage=usage, events=events, mirror=mirror, catalogues=catalogues
        )
        self.service = BrokerService(
            nc=nc, shared=shared, leases=leases, admin=admin, store=store, teams=teams, catalogues=catalogues
        )
        self.jobs: PeriodicJobs | None = None
        if shared.run_jobs:
            self.jobs = PeriodicJobs(
                settings=s, store=store, refresher=refresher, usage=usage, tasks=tasks, catalogues=catalogues
            )


async def bring_up(shared: Shared, parts: BrokerParts) -> tuple[LoadReport, ConfigAuthority]:
    """Start the composed broker, in order; what the configuration merge found, and the
    configuration authority started from it."""
    s = shared.settings
    await parts.store.seal_plain_records()  # a key set on an existing pool: nothing stays plain
    if s.oauth_token_file is not None:
        await parts.store.restore_from_file(s.oauth_token_file)  # an empty Redis (a lost volume)
    token = s.kiro_auth_token.get_secret_value() if s.kiro_auth_token else None
    report = await parts.store.load_config(token)
    config = ConfigAuthority(
        redis=parts.redis,
        keys=shared.keys,
        store=parts.store,
        events=parts.events,
        instance=s.broker_instance_id,
        configured=report.configured,
    )
    await config.start(shared.background)
    if parts.mirror is not None:
        await parts.mirror.write()
    await parts.service.start()
    if parts.jobs is not None:
        parts.jobs.start()
    return report, config


class Broker:
    """One broker instance: `start()` connects, builds its parts and brings them up; `stop()` drains and
    closes in reverse order. Before `start()` (or after a failed one) it has no parts."""

    def __init__(
        self,
        settings: Settings,
        *,
        registry: CollectorRegistry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        run_jobs: bool = True,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.shared = Shared(
            settings=settings,
            metrics=BrokerMetrics(registry),
            keys=RedisKeys(settings.kiro_redis_prefix),
            subjects=Subjects(settings.kiro_bus_namespace),
            telemetry=telemetry or Telemetry(None),
            handlers=TaskSet("handlers"),
            background=TaskSet("background"),
            transport=transport,
            run_jobs=run_jobs,
        )
        self.link = NatsLink()
        self.load_report = LoadReport()
        self.parts: BrokerParts | None = None
        self._redis: Redis | None = None
        self._nc: NatsClient | None = None
        self._config: ConfigAuthority | None = None
        self._stopped = False

    async def start(self) -> None:
        s = self.shared.settings
        if s.secret_key_bytes is None:
            log.warning(
                "KIRO_SECRET_KEY is not set: refresh tokens, client secrets and access tokens "
                "are stored in Redis as plain text"
            )
        self._redis = await connect_redis(s)
        self._nc = await connect_nats(s, self.link)
        self.parts = BrokerParts(self.shared, self._redis, self._nc)
        self.load_report, self._config = await bring_up(self.shared, self.parts)
        log.info(
            "token broker started",
            extra={
                "instance": s.broker_instance_id,
                "namespace": s.kiro_bus_namespace,
                "encrypting": s.secret_key_bytes is not None,
            },
        )

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.link.stopping = True
        parts, s = self.parts, self.shared.settings
        if parts is not None:
            parts.leases.closing = True
            await parts.service.stop()
        if not await self.handlers.drain(s.broker_drain_timeout):
            log.warning(
                "requests still running at shutdown were cancelled", extra={"count": len(self.handlers)}
            )
        await self.handlers.cancel_all()
        if parts is not None:
            await _flush_rotations(parts.refresher)
        await self.shared.background.cancel_all()
        if self._config is not None:
            await self._config.stop()
        if self._nc is not None:
            try:
                await self._nc.drain()
            except Exception as exc:  # a broken connection at shutdown is no reason to hang
                log.warning("NATS drain failed: %s", type(exc).__name__)
            self._nc = None
        if parts is not None:
            await parts.clients.aclose()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        log.info("token broker stopped", extra={"instance": s.broker_instance_id})

    # ---- what the HTTP side and tests read
    @property
    def settings(self) -> Settings:
        return self.shared.settings

    @property
    def metrics(self) -> BrokerMetrics:
        return self.shared.metrics

    @property
    def handlers(self) -> TaskSet:
        return self.shared.handlers

    @property
    def store(self) -> CredentialStore | None:
        return self.parts.store if self.parts is not None else None

    @property
    def catalogues(self) -> Catalogues | None:
        return self.parts.catalogues if self.parts is not None else None

    @property
    def teams(self) -> TeamService | None:
        return self.parts.teams if self.parts is not None else None

    @property
    def nats_ok(self) -> bool:
        return self._nc is not None and bool(self._nc.is_connected) and self.link.connected

    async def redis_ok(self) -> bool:
        if self._redis is None:
            return False
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), timeout=2.0))
        except (RedisError, TimeoutError):
            return False

    async def readiness(self) -> Readiness:
        """`/readyz`: NATS connected and Redis answering."""
        if not self.nats_ok:
            return Readiness.failed("NATS not connected")
        if not await self.redis_ok():
            return Readiness.failed("Redis not answering")
        return Readiness.ok()

    async def refresh_gauges(self) -> None:
        """Before a scrape: the pool and team gauges from Redis (a Redis error keeps the old
        values; `/readyz` reports Redis)."""
        if self.parts is None:
            return
        try:
            await pool_status(self.parts.store, self.settings, self.metrics)
            await self.parts.teams.refresh_gauges()
        except RedisError:
            pass


async def _flush_rotations(refresher: Refresher) -> None:
    """Last chance for rotated refresh tokens that Redis has not taken yet."""
    if not refresher.rotations.has_pending():
        return
    try:
        await asyncio.wait_for(refresher.rotations.flush_all(), timeout=5.0)
    except TimeoutError:
        pass
    if refresher.rotations.has_pending():
        log.error("rotated refresh tokens not stored in Redis at shutdown (see OAUTH_TOKEN_FILE)")
