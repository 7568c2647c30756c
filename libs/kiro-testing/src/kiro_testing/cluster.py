"""A whole Kiro2API deployment on loopback, for the reliability suite (`kiro_testing.chaos`).

    front (round-robin TCP proxy, its own process)
      -> 3 gateway replicas -> NATS -> 2 token-broker replicas -> Redis (append-only, fsync always)
      -> the Kiro simulator (accounts that rotate their refresh token on every refresh)

Every process listens on a fixed free port picked at construction, so a replica that is killed
and started again comes back at the same address (as a pod behind a Service would). Nothing
here sleeps for correctness: starts wait for readiness (`/readyz`, a Redis PING, a TCP accept).

The front is what a load balancer does, minimally: one client connection is piped to one
backend, chosen round-robin among the backends whose `/readyz` answered 200 at the last poll
(every `--poll` seconds; all of them if none is ready); a backend that refuses the connection is
skipped and the next one is tried. When a backend dies mid-response, the client's connection
is closed, which the client sees as a cut connection.

`python -m kiro_testing.cluster front --port P --backend 127.0.0.1:A --backend ...` runs the
front alone.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import orjson
from pydantic import BaseModel

from kiro_testing.processes import ManagedProcess, NatsServer, PythonService, RedisServer, free_port, wait_tcp
from kiroproto.bus import KeyCreate, KeyCreated, PoolStatus, PoolStatusRequest, Subjects

log = logging.getLogger("kiro_testing.cluster")

CLIENT_KEY = "chaos-operator-key-" + "0123456789abcdef"
ADMIN_KEY = "chaos-admin-key-" + "fedcba9876543210"
# KIRO_SECRET_KEY of the chaos brokers (base64 of 32 bytes): secrets sealed at rest as in production.
SECRET_KEY = base64.b64encode(b"chaos-cluster-secret-key-32byte!").decode()

# ---------------------------------------------------------------------------------------- front


@dataclass
class _Backend:
    host: str
    port: int
    ready: bool = True
    connections: int = 0
    refused: int = 0


class RoundRobinFront:
    """An asyncio TCP proxy: one client connection, one backend, round-robin over ready ones."""

    def __init__(
        self,
        backends: Sequence[tuple[str, int]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ready_path: str | None = "/readyz",
        poll_s: float = 0.25,
        connect_timeout: float = 2.0,
    ) -> None:
        if not backends:
            raise ValueError("the front needs at least one backend")
        self.backends = [_Backend(h, p) for h, p in backends]
        self.host = host
        self.port = port
        self.ready_path = ready_path
        self.poll_s = poll_s
        self.connect_timeout = connect_timeout
        self._next = 0
        self._server: asyncio.Server | None = None
        self._poller: asyncio.Task[None] | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, backlog=512)
        sockets = self._server.sockets
        self.port = int(sockets[0].getsockname()[1])
        if self.ready_path:
            self._poller = asyncio.create_task(self._poll_loop(), name="front-readiness")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        if self._pipes:
            await asyncio.wait(set(self._pipes), timeout=2.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    # -- readiness
    async def _poll_loop(self) -> None:
        while True:
            await asyncio.gather(*(self._probe(b) for b in self.backends))
            await asyncio.sleep(self.poll_s)

    async def _probe(self, backend: _Backend) -> None:
        backend.ready = await http_get_ok(backend.host, backend.port, self.ready_path or "/", limit_s=1.0)

    def _order(self) -> list[_Backend]:
        """Round-robin over the ready backends; the others only as a last resort."""
        ready = [b for b in self.backends if b.ready] or list(self.backends)
        start = self._next % len(ready)
        self._next += 1
        ring = ready[start:] + ready[:start]
        return ring + [b for b in self.backends if b not in ring]

    # -- piping
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._pipes.add(task)
        try:
            upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
            for backend in self._order():
                try:
                    upstream = await asyncio.wait_for(
                        asyncio.open_connection(backend.host, backend.port), self.connect_timeout
                    )
                except (OSError, TimeoutError):
                    backend.refused += 1
                    backend.ready = False
                    continue
                backend.connections += 1
                break
            if upstream is None:
                return
            b_reader, b_writer = upstream
            try:
                await asyncio.gather(_pipe(reader, b_writer), _pipe(b_reader, writer))
            finally:
                _abort(b_writer)
        finally:
            _close(writer)
            if task is not None:
                self._pipes.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF (then half-close the other side) or an error (then abort both ways)."""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                if writer.can_write_eof():
                    with contextlib.suppress(OSError, RuntimeError):
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
    except (OSError, RuntimeError, asyncio.IncompleteReadError):
        _abort(writer)


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        writer.close()


async def http_get_ok(host: str, port: int, path: str, *, limit_s: float) -> bool:
    """A bare HTTP/1.1 GET: True on a 2xx status line within `limit_s`."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(limit_s):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            line = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            _close(writer)
    parts = line.split()
    return len(parts) >= 2 and parts[1].startswith(b"2")


class FrontProcess(ManagedProcess):
    """The front as a child process (`python -m kiro_testing.cluster front ...`)."""

    def __init__(self, log_dir: Path, backends: Sequence[tuple[str, int]], port: int | None = None) -> None:
        super().__init__("front", log_dir)
        self.port = port or free_port()
        self.backends = list(backends)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> Sequence[str]:
        args = [sys.executable, "-m", "kiro_testing.cluster", "front", "--port", str(self.port)]
        for host, port in self.backends:
            args += ["--backend", f"{host}:{port}"]
        return args

    def wait_ready(self) -> None:
        wait_tcp(self.port)


# ------------------------------------------------------------------------------ the simulator


class SimControl:
    """The simulator's control API (`/_sim/...`), synchronous, loopback only."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self._http = httpx.Client(base_url=url, timeout=timeout, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, path, json=body)
        if response.status_code >= 300:
            raise RuntimeError(f"simulator {method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def add_account(self, **spec: Any) -> dict[str, Any]:
        spec.setdefault("refresh_token", "aorChaos" + uuid.uuid4().hex * 3)
        return dict(self.call("POST", "/_sim/accounts", spec))

    def accounts(self) -> list[dict[str, Any]]:
        data = self.call("GET", "/_sim/accounts")
        items = data.get("accounts", data) if isinstance(data, dict) else data
        return [dict(a) for a in items]

    def script(self, **body: Any) -> Any:
        return self.call("POST", "/_sim/scripts", body)

    def clear_scripts(self) -> Any:
        return self.call("DELETE", "/_sim/scripts")

    def expire_access_tokens(self, account_id: str) -> Any:
        return self.call("POST", f"/_sim/accounts/{account_id}/expire-access-tokens", {})

    def stats(self) -> dict[str, Any]:
        return dict(self.call("GET", "/_sim/stats?bodies=false"))


class SimProcess(PythonService):
    def __init__(self, log_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            "kiro-sim",
            "kiro_sim",
            log_dir,
            dict(env or {}),
            f"{self.url}/healthz",
            args=["--port", str(self.port), "--log-level", "WARNING"],
        )


# ------------------------------------------------------------------------------ the cluster


def refresh_fingerprint(token: str) -> str:
    """The broker's fingerprint of a secret (kiroproto.credentials.fingerprint)."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:10]


@dataclass
class ClusterConfig:
    gateways: int = 3
    brokers: int = 2
    accounts: int = 5
    rotate_refresh: bool = True
    pool_max_size: int = 3
    pool_wait_s: float = 10.0
    cooldown_s: float = 3.0
    failure_cooldown_s: float = 3.0
    lease_ttl_s: float = 15.0
    shutdown_grace_s: float = 10.0
    log_level: str = "INFO"
    broker_env: dict[str, str] = field(default_factory=dict)
    gateway_env: dict[str, str] = field(default_factory=dict)
    sim_env: dict[str, str] = field(default_factory=dict)


class Cluster:
    """Start with `start()`, stop with `stop()` (also on errors: use it as a context manager)."""

    def __init__(self, workdir: Path | None = None, config: ClusterConfig | None = None) -> None:
        self.config = config or ClusterConfig()
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="kiro-cluster-"))
        self.log_dir = self.workdir / "logs"
        self.namespace = "chaos" + uuid.uuid4().hex[:6]
        self.prefix = self.namespace
        self.subjects = Subjects(self.namespace)
        self.nats = NatsServer(self.log_dir)
        self.redis = RedisServer(self.log_dir, data_dir=self.workdir / "redis-data")
        self.sim_process = SimProcess(self.log_dir, {"KIRO_SIM_LOG_LEVEL": "WARNING", **self.config.sim_env})
        self.sim = SimControl(self.sim_process.url)
        self.gateway_ports = [free_port() for _ in range(self.config.gateways)]
        self.broker_ports = [free_port() for _ in range(self.config.brokers)]
        self.front = FrontProcess(self.log_dir, [("127.0.0.1", p) for p in self.gateway_ports])
        self.gateways: list[PythonService] = []
        self.brokers: list[PythonService] = []
        self.account_ids: list[str] = []
        self.credentials_json = "[]"
        self._started: list[ManagedProcess] = []

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.front.url

    def gateway_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.gateway_ports[index]}"

    def broker_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.broker_ports[index]}"

    def all_processes(self) -> list[ManagedProcess]:
        return [self.nats, self.redis, self.sim_process, *self.brokers, *self.gateways, self.front]

    # -- start / stop
    def _common_env(self) -> dict[str, str]:
        c = self.config
        return {
            "NATS_URL": self.nats.url,
            "KIRO_BUS_NAMESPACE": self.namespace,
            "KIRO_API_BASE_URL": self.sim_process.url,
            "KIRO_AUTH_BASE_URL": self.sim_process.url,
            "KIRO_OIDC_BASE_URL": self.sim_process.url,
            "SESSION_POOL_MAX_SIZE": str(c.pool_max_size),
            "SESSION_POOL_MAX_RETRIES": "5",
            "SESSION_POOL_COOLDOWN": f"{c.cooldown_s:g}s",
            "SESSION_POOL_WAIT": f"{c.pool_wait_s:g}s",
            "LOG_LEVEL": c.log_level,
        }

    def start(self) -> None:
        self.nats.start()
        self._started.append(self.nats)
        self.redis.start()
        self._started.append(self.redis)
        self.sim_process.start()
        self._started.append(self.sim_process)
        credentials = []
        for i in range(self.config.accounts):
            account = self.sim.add_account(
                id=f"acct{i}", auth="social", rotate_refresh=self.config.rotate_refresh
            )
            self.account_ids.append(str(account["id"]))
            entry: dict[str, Any] = {
                "id": account["id"],
                "auth": "Social",
                "refreshToken": account["refresh_token"],
            }
            if account.get("profile_arn"):
                entry["profileArn"] = account["profile_arn"]
            credentials.append(entry)
        self.credentials_json = orjson.dumps(credentials).decode()
        for i in range(self.config.brokers):
            self.brokers.append(self._broker(i))
            self.start_broker(i)
        for i in range(self.config.gateways):
            self.gateways.append(self._gateway(i))
            self.start_gateway(i)
        self.front.start()
        self._started.append(self.front)

    def stop(self) -> None:
        for proc in [self.front, *self.gateways, *self.brokers, self.sim_process, self.redis, self.nats]:
            with contextlib.suppress(Exception):
                proc.stop()
        self.sim.close()

    def cleanup(self) -> None:
        """Remove the work folder (only one the cluster made itself)."""
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _broker(self, index: int) -> PythonService:
        c = self.config
        env = {
            **self._common_env(),
            "REDIS_URL": self.redis.url,
            "KIRO_REDIS_PREFIX": self.prefix,
            "KIRO_AUTH_TOKEN": self.credentials_json,
            "KIRO_SECRET_KEY": SECRET_KEY,
            "BROKER_HOST": "127.0.0.1",
            "BROKER_PORT": str(self.broker_ports[index]),
            "BROKER_INSTANCE_ID": f"broker{index}",
            "BROKER_LEASE_TTL": f"{c.lease_ttl_s:g}s",
            "BROKER_FAILURE_COOLDOWN": f"{c.failure_cooldown_s:g}s",
            "BROKER_USAGE_POLL_INTERVAL": "0",
            "BROKER_DRAIN_TIMEOUT": "5s",
            **c.broker_env,
        }
        return PythonService(
            f"broker{index}", "token_broker", self.log_dir, env, f"{self.broker_url(index)}/readyz"
        )

    def _gateway(self, index: int) -> PythonService:
        c = self.config
        env = {
            **self._common_env(),
            "KIRO_CLIENT_TOKEN": CLIENT_KEY,
            "KIRO_ADMIN_TOKEN": ADMIN_KEY,
            "PORT": str(self.gateway_ports[index]),
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_SHUTDOWN_GRACE": f"{c.shutdown_grace_s:g}s",
            **c.gateway_env,
        }
        return PythonService(
            f"gateway{index}", "gateway", self.log_dir, env, f"{self.gateway_url(index)}/readyz"
        )

    # -- faults (blocking: call them from a thread when an event loop is busy)
    def start_broker(self, index: int) -> None:
        self.brokers[index].start()

    def kill_broker(self, index: int) -> None:
        self.brokers[index].kill()

    def start_gateway(self, index: int) -> None:
        self.gateways[index].start()

    def kill_gateway(self, index: int) -> None:
        self.gateways[index].kill()

    def stop_gateway(self, index: int, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait for the exit status (SIGKILL after `timeout`)."""
        return self.gateways[index].stop(timeout=timeout)

    def kill_nats(self) -> None:
        self.nats.kill()

    def start_nats(self) -> None:
        self.nats.start()

    def kill_redis(self) -> None:
        self.redis.kill()

    def start_redis(self) -> None:
        self.redis.start()

    # -- the bus
    async def bus_request(self, subject: str, message: BaseModel, limit_s: float = 3.0) -> bytes:
        nc = await nats.connect(
            self.nats.url, connect_timeout=2, allow_reconnect=False, max_reconnect_attempts=0
        )
        try:
            reply = await nc.request(subject, message.model_dump_json().encode(), timeout=limit_s)
        finally:
            await nc.close()
        headers = reply.headers or {}
        if "Nats-Service-Error-Code" in headers:
            code, text = headers.get("Nats-Service-Error-Code"), headers.get("Nats-Service-Error")
            raise RuntimeError(f"broker error {code}: {text}")
        return bytes(reply.data)

    async def pool_status(self) -> PoolStatus:
        data = await self.bus_request(self.subjects.pool_status, PoolStatusRequest())
        return PoolStatus.model_validate_json(data)

    async def create_team_key(self, team: str) -> str | None:
        """A team key from the broker (`key.create`), or None when this build has no team keys."""
        try:
            data = await self.bus_request(self.subjects.key_create, KeyCreate(team=team, name="chaos"))
            created = KeyCreated.model_validate_json(data)
        except Exception as exc:  # no responders, an older broker, a refusal: operator key then
            log.info("team keys unavailable: %s", exc)
            return None
        return created.secret if created.ok else None

    # -- Redis (read-only look at the broker's durable state)
    def redis_hash(self, key: str) -> dict[str, str]:
        import redis  # the synchronous client, only here

        client = redis.Redis.from_url(self.redis.url, decode_responses=True, socket_timeout=5)
        try:
            return {str(k): str(v) for k, v in client.hgetall(key).items()}
        finally:
            client.close()

    def credential_record(self, credential_id: str) -> dict[str, str]:
        return self.redis_hash(f"{self.prefix}:broker:cred:{credential_id}")

    def logs(self) -> dict[str, str]:
        """Every process's log, by file name (for the secret scanner and failure reports)."""
        out: dict[str, str] = {}
        if self.log_dir.exists():
            for path in sorted(self.log_dir.glob("*.log")):
                out[path.name] = path.read_text(errors="replace")
        return out


# --------------------------------------------------------------------------------- entry point


async def _run_front(port: int, backends: list[tuple[str, int]], poll_s: float) -> None:
    front = RoundRobinFront(backends, port=port, poll_s=poll_s)
    await front.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await front.stop()


def _parse_backend(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiro_testing.cluster")
    sub = parser.add_subparsers(dest="command", required=True)
    front = sub.add_parser("front", help="the round-robin TCP front alone")
    front.add_argument("--port", type=int, required=True)
    front.add_argument("--backend", action="append", required=True, help="host:port (repeat)")
    front.add_argument("--poll", type=float, default=0.25, help="readiness poll period (s)")
    args = parser.parse_args(argv)
    if os.environ.get("KIRO_FRONT_DEBUG"):
        logging.basicConfig(level=logging.DEBUG)
    asyncio.run(_run_front(args.port, [_parse_backend(b) for b in args.backend], args.poll))
    return 0


if __name__ == "__main__":
    sys.exit(main())
