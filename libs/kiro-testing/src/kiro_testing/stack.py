"""The one stack builder: a whole Kiro2API deployment as processes on free loopback ports.

    [front] -> gateway(s) -> NATS -> token-broker(s) -> Redis
                  |-> dashboard, oauth (forwarded by the gateway: one public origin)
    every service -> the Kiro simulator (or the real Kiro, for `make run`)

`StackConfig` says what to run; `Stack` starts it in dependency order, stops it in reverse, and
offers what tests, chaos, fuzz, the benchmark and `make run` need: URLs, adding / killing /
restarting replicas, the broker's state over the bus, the logs. NATS and Redis are either the
stack's own (optionally with one authenticated user per service, `kiro_testing.busauth`) or
shared ones given by URL (a pytest session's servers); the simulator is the stack's own or a
shared `SimControl`. Each stack has its own bus namespace and Redis prefix, so stacks on shared
servers never see each other's credentials.

Every process keeps the port it was given, so a replica killed and started again comes back at
the same address (as a pod behind a Service would). Nothing sleeps for correctness: starts wait
for readiness.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from kiro_service.bus import call_once
from kiro_testing.busauth import (
    NATS_SERVICES,
    REDIS_SERVICES,
    BusCredentials,
    private_dir,
    render_nats_conf,
    render_redis_conf,
    write_private,
)
from kiro_testing.front import FrontProcess
from kiro_testing.processes import ManagedProcess, NatsServer, PythonService, RedisServer, free_port
from kiro_testing.sim import Sim, SimControl, credential
from kiroproto.bus import (
    DEFAULT_NAMESPACE,
    KEY_CREATE,
    POOL_STATUS,
    Endpoint,
    KeyCreate,
    PoolStatus,
    PoolStatusRequest,
    Subjects,
)

Req = TypeVar("Req", bound=BaseModel)
Rep = TypeVar("Rep", bound=BaseModel)

CLIENT_TOKEN = "e2e-client-token-" + "Jq4Vn8Rx2Tb6"
ADMIN_TOKEN = "e2e-admin-" + "Kx7Qm2Wv9Lp4Rt8Zc3Nb"
# KIRO_SECRET_KEY of the test brokers (base64 of 32 bytes): secrets are sealed in Redis as in production.
SECRET_KEY = base64.b64encode(b"e2e-stack-secret-key-32-bytes!!!").decode()

# What the tests' brokers and gateways run with unless told otherwise.
TEST_POOL_ENV: dict[str, str] = {
    "SESSION_POOL_MAX_SIZE": "3",
    "SESSION_POOL_MAX_RETRIES": "5",
    "SESSION_POOL_COOLDOWN": "30s",
    "SESSION_POOL_WAIT": "10s",
    "LOG_LEVEL": "INFO",
}


@dataclass
class StackConfig:
    """What to run. Environment layers, lowest first: the service's defaults here, `env`
    (every service), the service's own `*_env`; then the per-service bus users (`secure_bus`)."""

    brokers: int = 1
    gateways: int = 1
    dashboard: bool = False
    oauth: bool = False
    front: bool = False  # a round-robin TCP front over the gateways (`Stack.url` is then the front)
    forward_admin: bool = True  # the gateway forwards `/`, `/api/*`, `/oauth*` to dashboard / oauth
    simulator: bool = True  # own simulator (unless one is given); False: the real Kiro (`make run`)
    accounts: Sequence[Mapping[str, Any]] = ()  # simulator accounts made at start: the credentials
    seeded: Sequence[str] = ()  # ids of accounts the simulator made itself (`--seed-demo`): credentials
    credentials: Sequence[Mapping[str, Any]] = ()  # more `KIRO_AUTH_TOKEN` entries
    client_token: str | None = CLIENT_TOKEN
    admin_token: str | None = None  # dashboard and oauth; the gateway only via `gateway_env`
    secret_key: str | None = SECRET_KEY
    name: str = "e2e"  # prefix of the random namespace, and of process names
    namespace: str | None = None  # fixed bus namespace (default: name + random hex)
    scoped: bool = True  # set KIRO_BUS_NAMESPACE and KIRO_REDIS_PREFIX to the namespace
    test_defaults: bool = True  # TEST_POOL_ENV under `env`
    env: Mapping[str, str] = field(default_factory=dict)
    broker_env: Mapping[str, str] = field(default_factory=dict)
    gateway_env: Mapping[str, str] = field(default_factory=dict)
    dashboard_env: Mapping[str, str] = field(default_factory=dict)
    oauth_env: Mapping[str, str] = field(default_factory=dict)
    sim_env: Mapping[str, str] = field(default_factory=dict)
    sim_args: Sequence[str] = ()
    secure_bus: bool = False  # own NATS / Redis with one user per service (as `make run`)
    nats_port: int = 0  # own servers' ports (0: free)
    redis_port: int = 0
    gateway_port: int = 0  # the first gateway's port (0: free)
    broker_port: int = 0  # the first broker's port (0: free)
    data_dir: Path | None = None  # own Redis data and bus configs (default: under the log folder)
    sim_port: int = 0  # own simulator's port (0: free)
    plain_names: bool = False  # processes named "token-broker", "gateway", ... (one stack per folder)
    health_path: str = "/readyz"  # what "started" waits for
    ready_timeout: float = 30.0


class Stack:
    """Start with `start()` (or `with Stack(...) as stack:`), stop with `stop()`."""

    def __init__(
        self,
        log_dir: Path | None = None,
        config: StackConfig | None = None,
        *,
        nats_url: str | None = None,
        redis_url: str | None = None,
        sim: SimControl | None = None,
    ) -> None:
        self.config = c = config or StackConfig()
        self._own_workdir = log_dir is None
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix=f"kiro-{c.name}-"))
        self.data_dir = c.data_dir or self.log_dir / f"{c.name}-data"
        self.namespace = c.namespace or f"{c.name}{uuid.uuid4().hex[:8]}"
        self.prefix = self.namespace
        self.subjects = Subjects(self.namespace)
        self.bus_users = BusCredentials() if c.secure_bus else None
        self.nats: NatsServer | None = None if nats_url else self._nats_server()
        self.redis: RedisServer | None = None if redis_url else self._redis_server()
        self.nats_url = nats_url or (self.nats.url if self.nats else "")
        self.redis_url = redis_url or (self.redis.url if self.redis else "")
        self.own_sim: Sim | None = None
        if sim is None and c.simulator:
            sim_name = "kiro-sim" if c.plain_names else f"kiro-sim-{self.namespace}"
            self.own_sim = Sim(self.log_dir, c.sim_env, c.sim_args, port=c.sim_port, name=sim_name)
            sim = self.own_sim
        self._sim = sim
        self.sim_url = sim.url if sim is not None else None
        self.accounts: list[dict[str, Any]] = []
        self.account_ids: list[str] = []
        self.credentials_json = orjson.dumps(list(c.credentials)).decode()
        self.brokers: list[PythonService] = []
        self.gateways: list[PythonService] = []
        self.broker_ports: list[int] = []
        self.gateway_ports: list[int] = []
        self.dashboard_port = free_port() if c.dashboard else 0
        self.oauth_port = free_port() if c.oauth else 0
        self.dashboard: PythonService | None = None
        self.oauth: PythonService | None = None
        self.front: FrontProcess | None = None
        self.processes: list[ManagedProcess] = []  # started, in order
        self._made: dict[str, list[str]] = {"broker": [], "gateway": []}  # every replica ever added

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        c = self.config
        for server in (self.nats, self.redis):
            if server is not None:
                self._launch(server)
        if self.own_sim is not None:
            self._launch(self.own_sim.process)
        if c.accounts or c.seeded:
            self.accounts = [self.sim.account(account_id) for account_id in c.seeded]
            self.accounts += [self.sim.add_account(**spec) for spec in c.accounts]
            self.account_ids = [str(a["id"]) for a in self.accounts]
            self.credentials_json = orjson.dumps(
                [*(credential(a) for a in self.accounts), *c.credentials]
            ).decode()
        for _ in range(c.brokers):
            self.add_broker()
        if c.dashboard:
            self.dashboard = self._admin_service(
                "dashboard", "dashboard", self.dashboard_port, c.dashboard_env
            )
            self._launch(self.dashboard)
        if c.oauth:
            self.oauth = self._admin_service("oauth", "kiro_oauth", self.oauth_port, c.oauth_env)
            self._launch(self.oauth)
        for _ in range(c.gateways):
            self.add_gateway()
        if c.front:
            self.front = FrontProcess(self.log_dir, [("127.0.0.1", p) for p in self.gateway_ports])
            self._launch(self.front)

    def _launch(self, process: ManagedProcess) -> None:
        process.start()
        self.processes.append(process)

    def stop(self) -> None:
        """Stop every process (replicas can be added again afterwards, on the same servers)."""
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                process.stop()
        self.processes.clear()
        self.brokers.clear()
        self.gateways.clear()
        self.broker_ports.clear()
        self.gateway_ports.clear()
        if self.own_sim is not None:
            self.own_sim.close()

    def cleanup(self) -> None:
        """Remove the work folder (only one the stack made itself)."""
        if self._own_workdir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    # ------------------------------------------------------------------ the servers

    def _nats_server(self) -> NatsServer:
        c = self.config
        port = c.nats_port or free_port()
        if self.bus_users is None:
            return NatsServer(self.log_dir, port=port)
        namespace = self.namespace if c.scoped else c.namespace or DEFAULT_NAMESPACE
        conf = render_nats_conf(self.bus_users.nats, port=port, namespace=namespace)
        return NatsServer(
            self.log_dir, port=port, config_file=write_private(self.data_dir / "nats.conf", conf)
        )

    def _redis_server(self) -> RedisServer:
        c = self.config
        port = c.redis_port or free_port()
        redis_dir = private_dir(self.data_dir / "redis").resolve()
        if self.bus_users is None:
            return RedisServer(self.log_dir, port=port, data_dir=redis_dir)
        conf = render_redis_conf(self.bus_users.redis, port=port, data_dir=redis_dir)
        return RedisServer(
            self.log_dir,
            port=port,
            data_dir=redis_dir,
            config_file=write_private(self.data_dir / "redis.conf", conf),
        )

    def _bus_env(self, service: str) -> dict[str, str]:
        """NATS_URL / REDIS_URL of `service` (with its own user on a secure bus)."""
        env: dict[str, str] = {}
        if service in NATS_SERVICES:
            env["NATS_URL"] = self.nats_url
            if self.bus_users is not None and self.nats is not None:
                env["NATS_URL"] = self.bus_users.nats_url(self.nats_url, service)
        if service in REDIS_SERVICES:
            env["REDIS_URL"] = self.redis_url
            if self.bus_users is not None and self.redis is not None:
                env["REDIS_URL"] = self.bus_users.redis_url(self.redis_url, service)
        return env

    # ------------------------------------------------------------------ environments

    def _env(self, service: str, defaults: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
        c = self.config
        env: dict[str, str] = dict(TEST_POOL_ENV) if c.test_defaults else {}
        if c.scoped:
            env.update({"KIRO_BUS_NAMESPACE": self.namespace, "KIRO_REDIS_PREFIX": self.prefix})
        if self.sim_url is not None:
            for name in ("KIRO_API_BASE_URL", "KIRO_AUTH_BASE_URL", "KIRO_OIDC_BASE_URL"):
                env[name] = self.sim_url
        env.update(self._bus_env(service))
        env.update(defaults)
        env.update(c.env)
        env.update(own)
        if self.bus_users is not None:
            env.update(self._bus_env(service))
        return env

    def service_env(self, service: str) -> dict[str, str]:
        """The environment this stack gives `service` ("gateway", "broker", ...) before its own
        settings (for a process a test starts by hand beside the stack)."""
        return self._env(service, {}, {})

    def _service(self, name: str, module: str, port: int, env: dict[str, str]) -> PythonService:
        c = self.config
        url = f"http://127.0.0.1:{port}{c.health_path}"
        return PythonService(name, module, self.log_dir, env, url, ready_timeout=c.ready_timeout)

    def _name(self, role: str, index: int) -> str:
        if self.config.plain_names:
            return role if index == 0 else f"{role}-{index}"
        return f"{role}-{self.namespace}-{index}"

    def add_broker(self, extra_env: Mapping[str, str] | None = None) -> PythonService:
        """One more broker replica (started); `extra_env` for this one only."""
        c = self.config
        index = len(self._made["broker"])
        port = (c.broker_port if index == 0 else 0) or free_port()
        defaults = {"BROKER_HOST": "127.0.0.1", "BROKER_INSTANCE_ID": f"broker{index}"}
        if c.secret_key:
            defaults["KIRO_SECRET_KEY"] = c.secret_key
        if c.test_defaults or self.credentials_json != "[]":
            defaults["KIRO_AUTH_TOKEN"] = self.credentials_json
        env = self._env(
            "broker", defaults, {**c.broker_env, **dict(extra_env or {}), "BROKER_PORT": str(port)}
        )
        name = self._name("token-broker", index)
        return self._start_replica("broker", self.brokers, self.broker_ports, name, "token_broker", port, env)

    def add_gateway(self, extra_env: Mapping[str, str] | None = None) -> PythonService:
        """One more gateway replica (started); `extra_env` for this one only."""
        c = self.config
        index = len(self._made["gateway"])
        port = (c.gateway_port if index == 0 else 0) or free_port()
        defaults = {"GATEWAY_HOST": "127.0.0.1"}
        if c.client_token:
            defaults["KIRO_CLIENT_TOKEN"] = c.client_token
        if c.forward_admin and self.dashboard_port:
            defaults["GATEWAY_DASHBOARD_URL"] = self.dashboard_url
        if c.forward_admin and self.oauth_port:
            defaults["GATEWAY_OAUTH_URL"] = self.oauth_url
        env = self._env("gateway", defaults, {**c.gateway_env, **dict(extra_env or {}), "PORT": str(port)})
        name = self._name("gateway", index)
        return self._start_replica("gateway", self.gateways, self.gateway_ports, name, "gateway", port, env)

    def _start_replica(
        self,
        role: str,
        replicas: list[PythonService],
        ports: list[int],
        name: str,
        module: str,
        port: int,
        env: dict[str, str],
    ) -> PythonService:
        process = self._service(name, module, port, env)
        self._made[role].append(name)
        process.start()
        replicas.append(process)
        ports.append(port)
        self.processes.append(process)
        return process

    def _admin_service(self, service: str, module: str, port: int, own: Mapping[str, str]) -> PythonService:
        c = self.config
        upper = service.upper()
        defaults = {f"{upper}_HOST": "127.0.0.1", f"{upper}_PORT": str(port)}
        if c.oauth:
            defaults["OAUTH_ENABLED"] = "true"
        if c.admin_token:
            defaults["KIRO_ADMIN_TOKEN"] = c.admin_token
        if c.client_token:
            defaults["KIRO_CLIENT_TOKEN"] = c.client_token
        env = self._env(service, defaults, own)
        return self._service(service if c.plain_names else f"{service}-{self.namespace}", module, port, env)

    # ------------------------------------------------------------------ addresses

    @property
    def sim(self) -> SimControl:
        """The simulator's control API (a stack against the real Kiro has none)."""
        if self._sim is None:
            raise RuntimeError("this stack runs without the simulator")
        return self._sim

    @property
    def url(self) -> str:
        """Where clients go: the front when there is one, else the first gateway."""
        return self.front.url if self.front is not None else self.gateway_url(0)

    @property
    def port(self) -> int:
        return self.front.port if self.front is not None else self.gateway_ports[0]

    def gateway_url(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.gateway_ports[index]}"

    def broker_url(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.broker_ports[index]}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def oauth_url(self) -> str:
        return f"http://127.0.0.1:{self.oauth_port}"

    # ------------------------------------------------------------------ faults (blocking)

    def _own(self, server: ManagedProcess | None) -> ManagedProcess:
        assert server is not None, "the stack runs on shared servers: not its own to break"
        return server

    def start_broker(self, index: int) -> None:
        self.brokers[index].start()

    def kill_broker(self, index: int) -> None:
        self.brokers[index].kill()

    def stop_broker(self, broker: PythonService) -> None:
        """Stop a broker for good (it leaves the stack)."""
        broker.stop()
        index = self.brokers.index(broker)
        del self.brokers[index], self.broker_ports[index]
        self.processes.remove(broker)

    def start_gateway(self, index: int) -> None:
        self.gateways[index].start()

    def kill_gateway(self, index: int) -> None:
        self.gateways[index].kill()

    def stop_gateway(self, index: int, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait for the exit status (SIGKILL after `timeout`)."""
        return self.gateways[index].stop(timeout=timeout)

    def kill_nats(self) -> None:
        self._own(self.nats).kill()

    def start_nats(self) -> None:
        self._own(self.nats).start()

    def kill_redis(self) -> None:
        self._own(self.redis).kill()

    def start_redis(self) -> None:
        self._own(self.redis).start()

    # ------------------------------------------------------------------ the bus

    async def bus_call(
        self, endpoint: Endpoint[Req, Rep], message: Req, limit_s: float = 15.0, service: str = "dashboard"
    ) -> Rep:
        """One round trip to the broker through the bus table (`kiro_service.bus.call_once`), as
        `service` (with its bus user on a secure bus); `BusError` when it fails."""
        url = self.bus_users.nats_url(self.nats_url, service) if self.bus_users else self.nats_url
        return await call_once(
            url, endpoint, message, service=service, namespace=self.namespace, timeout_s=limit_s
        )

    async def pool_status(self) -> PoolStatus:
        return await self.bus_call(POOL_STATUS, PoolStatusRequest(), 3.0)

    def pool_status_sync(self) -> PoolStatus:
        return asyncio.run(self.pool_status())

    async def create_team_key(self, team: str) -> str | None:
        """A team key from the broker (`key.create`), or None when this build has no team keys."""
        try:
            created = await self.bus_call(KEY_CREATE, KeyCreate(team=team, name="chaos"))
        except Exception:  # noqa: BLE001 - no responders, an older broker, a refusal: operator key then
            return None
        return created.secret if created.ok else None

    # ------------------------------------------------------------------ Redis (read-only)

    def redis_hash(self, key: str) -> dict[str, str]:
        import redis  # the synchronous client, only here

        client = redis.Redis.from_url(self.redis_url, decode_responses=True, socket_timeout=5)
        try:
            return {str(k): str(v) for k, v in client.hgetall(key).items()}
        finally:
            client.close()

    def credential_record(self, credential_id: str) -> dict[str, str]:
        return self.redis_hash(f"{self.prefix}:broker:cred:{credential_id}")

    # ------------------------------------------------------------------ logs

    def log_files(self) -> list[Path]:
        return sorted(p for p in self.log_dir.glob("*.log") if p.is_file())

    def logs(self) -> dict[str, str]:
        """Every process's log, by file name (for the secret scanner and failure reports)."""
        return {path.name: path.read_text(errors="replace") for path in self.log_files()}


def simulator_accounts(count: int, **spec: Any) -> list[dict[str, Any]]:
    """`count` account specs alike (for `StackConfig.accounts`)."""
    return [dict(spec) for _ in range(count)]
