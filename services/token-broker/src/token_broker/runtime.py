"""One broker instance: its connections, components and tasks, started and stopped in order.

`Broker.start()` connects Redis (PING) and NATS (reconnect callbacks feed readiness), merges
the configured credentials into Redis, mirrors the pool to OAUTH_TOKEN_FILE, starts the NATS
service and the periodic jobs. `Broker.stop()` stops taking requests, lets the handlers in
flight finish (BROKER_DRAIN_TIMEOUT; waiting lease requests give up at once with
`pool_busy`), cancels the background tasks and closes NATS, HTTP clients and Redis, in
reverse order. Tests run several instances in one process against one Redis.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import nats
from prometheus_client import CollectorRegistry
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from kiro_service.busconn import nats_options
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
from token_broker.leases import LeaseManager, ReleaseWaker
from token_broker.metrics import BrokerMetrics
from token_broker.mirror import TokenFileMirror
from token_broker.refresh import Refresher
from token_broker.scripts import Scripts
from token_broker.service import BrokerService
from token_broker.settings import Settings
from token_broker.store import CredentialStore, LoadReport
from token_broker.tasks import TaskSet
from token_broker.team_service import TeamService
from token_broker.telemetry import Telemetry

log = logging.getLogger(__name__)


class Broker:
    def __init__(
        self,
        settings: Settings,
        *,
        registry: CollectorRegistry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        run_jobs: bool = True,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.settings = settings
        self.telemetry = telemetry or Telemetry(None)
        self.teams: TeamService | None = None
        self.metrics = BrokerMetrics(registry)
        self.subjects = Subjects(settings.kiro_bus_namespace)
        self.keys = RedisKeys(settings.kiro_redis_prefix)
        self._transport = transport
        self._run_jobs = run_jobs
        self.nats_connected = False
        self._stopped = False
        self.load_report = LoadReport()
        self.handlers = TaskSet("handlers")
        self.background = TaskSet("background")
        self._nc: Any = None
        self._redis: Redis | None = None
        self._clients: HttpClients | None = None
        self._service: BrokerService | None = None
        self.leases: LeaseManager | None = None
        self.store: CredentialStore | None = None
        self.refresher: Refresher | None = None
        self.catalogues: Catalogues | None = None
        self.config: ConfigAuthority | None = None

    async def start(self) -> None:
        s = self.settings
        key = s.secret_key_bytes
        if key is None:
            log.warning(
                "KIRO_SECRET_KEY is not set: refresh tokens, client secrets and access tokens "
                "are stored in Redis as plain text"
            )
        # A burst of lease requests waits for a free connection instead of failing: the default
        # pool raises MaxConnectionsError past 100 commands in flight, which bench/gateway.py's
        # 200+ concurrent streams turned into 529s for the clients.
        pool = BlockingConnectionPool.from_url(
            s.redis_url,
            decode_responses=True,
            socket_timeout=5.0,
            socket_connect_timeout=5.0,
            health_check_interval=30,
            max_connections=100,
            timeout=5.0,
            # from_url gives connections no retry at all: after a Redis restart every pooled
            # connection then failed its next command (a 529 for a client, seconds later).
            # A dead pooled socket is replaced and the command sent again (the scripts that
            # could see a repeat are idempotent or only leak a lease until its TTL).
            retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.25), 3),
        )
        self._redis = Redis.from_pool(pool)
        await self._redis.ping()
        self._nc = await nats.connect(
            s.nats_url,
            name=f"token-broker-{s.broker_instance_id}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            closed_cb=self._on_disconnected,
            error_cb=self._on_error,
            **nats_options("broker"),  # its own reply inbox (NATS permissions), TLS
        )
        self.nats_connected = True
        scripts = Scripts(self._redis, self.metrics.observe_redis)
        store = CredentialStore(self._redis, scripts, self.keys, SecretBox(key))
        self.store = store
        await store.seal_plain_records()  # a key set on an existing pool: nothing stays plain
        self._clients = HttpClients(s.broker_http_timeout, self._transport)
        events = EventPublisher(self._nc, self.subjects)
        mirror = TokenFileMirror(s.oauth_token_file, store) if s.oauth_token_file else None
        refresher = Refresher(
            settings=s,
            store=store,
            clients=self._clients,
            events=events,
            metrics=self.metrics,
            mirror=mirror,
            tasks=self.background,
        )
        self.refresher = refresher
        usage = QuotaChecker(store=store, refresher=refresher, metrics=self.metrics, tasks=self.background)
        catalogues = Catalogues(store=store, refresher=refresher, events=events, tasks=self.background)
        self.catalogues = catalogues
        waker = ReleaseWaker()
        self.leases = LeaseManager(
            settings=s,
            store=store,
            refresher=refresher,
            events=events,
            metrics=self.metrics,
            usage=usage,
            waker=waker,
            catalogues=catalogues,
        )
        admin = Admin(
            store=store, refresher=refresher, usage=usage, events=events, mirror=mirror, catalogues=catalogues
        )
        if s.oauth_token_file is not None:
            await store.restore_from_file(s.oauth_token_file)
        self.load_report = await store.load_config(
            s.kiro_auth_token.get_secret_value() if s.kiro_auth_token else None
        )
        self.config = ConfigAuthority(
            redis=self._redis,
            keys=self.keys,
            store=store,
            events=events,
            instance=s.broker_instance_id,
            configured=self.load_report.configured,
        )
        await self.config.start(self.background)
        if mirror is not None:
            await mirror.write()
        self.teams = TeamService(
            redis=self._redis,
            scripts=scripts,
            prefix=s.kiro_redis_prefix,
            nc=self._nc,
            subjects=self.subjects,
            metrics=self.metrics,
            slot_ttl_s=s.broker_team_slot_ttl,
        )
        self._service = BrokerService(
            nc=self._nc,
            settings=s,
            subjects=self.subjects,
            leases=self.leases,
            admin=admin,
            store=store,
            metrics=self.metrics,
            waker=waker,
            handlers=self.handlers,
            teams=self.teams,
            telemetry=self.telemetry,
            catalogues=catalogues,
        )
        await self._service.start()
        if self._run_jobs:
            PeriodicJobs(
                settings=s,
                store=store,
                refresher=refresher,
                usage=usage,
                tasks=self.background,
                catalogues=catalogues,
            ).start()
        log.info(
            "token broker started",
            extra={
                "instance": s.broker_instance_id,
                "namespace": s.kiro_bus_namespace,
                "encrypting": key is not None,
            },
        )

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.leases is not None:
            self.leases.closing = True
        if self._service is not None:
            await self._service.stop()
            self._service = None
        if not await self.handlers.drain(self.settings.broker_drain_timeout):
            log.warning(
                "requests still running at shutdown were cancelled", extra={"count": len(self.handlers)}
            )
        await self.handlers.cancel_all()
        if self.refresher is not None and self.refresher.rotations.has_pending():
            try:  # last chance for a rotation that Redis has not taken yet
                await asyncio.wait_for(self.refresher.rotations.flush_all(), timeout=5.0)
            except TimeoutError:
                pass
            if self.refresher.rotations.has_pending():
                log.error("rotated refresh tokens not stored in Redis at shutdown (see OAUTH_TOKEN_FILE)")
        await self.background.cancel_all()
        if self.config is not None:
            await self.config.stop()
        if self._nc is not None:
            try:
                await self._nc.drain()
            except Exception as exc:  # a broken connection at shutdown is no reason to hang
                log.warning("NATS drain failed: %s", type(exc).__name__)
            self._nc = None
        if self._clients is not None:
            await self._clients.aclose()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        log.info("token broker stopped", extra={"instance": self.settings.broker_instance_id})

    @property
    def nats_ok(self) -> bool:
        return self._nc is not None and bool(self._nc.is_connected) and self.nats_connected

    async def redis_ok(self) -> bool:
        if self._redis is None:
            return False
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), timeout=2.0))
        except (RedisError, TimeoutError):
            return False

    # ---- NATS lifecycle callbacks (readiness)
    async def _on_disconnected(self) -> None:
        self.nats_connected = False
        if not self._stopped:
            log.warning("NATS disconnected")

    async def _on_reconnected(self) -> None:
        self.nats_connected = True
        log.info("NATS reconnected")

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS error: %s", exc)
