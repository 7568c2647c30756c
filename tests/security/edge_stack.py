"""The public origin as `make run` builds it, for the edge tests: simulator, broker, gateway,
dashboard and oauth as processes on free ports (real nats-server and redis-server), the gateway
forwarding `/`, `/api/*`, static assets and `/oauth*` to the two admin services.

Like `tests/integration/admin_stack.py`, with per-service environment overrides (metrics ports,
trusted proxies, login limits) and raw-socket helpers for requests an HTTP library would
"fix" before sending (`--path-as-is`, bodies cut short).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from kiro_testing import PythonService, free_port
from tests.integration.admin_stack import ADMIN_TOKEN
from tests.integration.stack import CLIENT_TOKEN, Pool, Sim, credential

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


class EdgeStack:
    def __init__(
        self,
        log_dir: Path,
        *,
        nats_url: str,
        redis_url: str,
        gateway_env: Mapping[str, str] | None = None,
        dashboard_env: Mapping[str, str] | None = None,
        oauth_env: Mapping[str, str] | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.sim = Sim(log_dir)
        self.sim.start()
        account = self.sim.add_account(credits_limit=500.0, trial_credits=100.0)
        self.dashboard_port, self.oauth_port = free_port(), free_port()
        self.pool = Pool(
            log_dir,
            nats_url=nats_url,
            redis_url=redis_url,
            sim_url=self.sim.url,
            credentials=[credential(account)],
            gateway_env={
                "GATEWAY_DASHBOARD_URL": f"http://127.0.0.1:{self.dashboard_port}",
                "GATEWAY_OAUTH_URL": f"http://127.0.0.1:{self.oauth_port}",
                "KIRO_ADMIN_TOKEN": ADMIN_TOKEN,
                **dict(gateway_env or {}),
            },
        )
        admin_env = {
            "NATS_URL": nats_url,
            "REDIS_URL": redis_url,
            "KIRO_BUS_NAMESPACE": self.pool.namespace,
            "KIRO_REDIS_PREFIX": self.pool.prefix,
            "KIRO_ADMIN_TOKEN": ADMIN_TOKEN,
            "KIRO_CLIENT_TOKEN": CLIENT_TOKEN,
            "OAUTH_ENABLED": "true",
            "LOG_LEVEL": "INFO",
        }
        self.dashboard = PythonService(
            "dashboard",
            "dashboard",
            log_dir,
            {
                **admin_env,
                "DASHBOARD_HOST": "127.0.0.1",
                "DASHBOARD_PORT": str(self.dashboard_port),
                **dict(dashboard_env or {}),
            },
            f"http://127.0.0.1:{self.dashboard_port}/readyz",
        )
        self.oauth = PythonService(
            "oauth",
            "kiro_oauth",
            log_dir,
            {
                **admin_env,
                "OAUTH_HOST": "127.0.0.1",
                "OAUTH_PORT": str(self.oauth_port),
                "KIRO_AUTH_BASE_URL": self.sim.url,
                "KIRO_OIDC_BASE_URL": self.sim.url,
                **dict(oauth_env or {}),
            },
            f"http://127.0.0.1:{self.oauth_port}/readyz",
        )
        try:
            self.pool.add_broker()
            self.dashboard.start()
            self.oauth.start()
            self.gateway = self.pool.add_gateway()
        except Exception:
            self.stop()
            raise
        self.url = self.pool.gateway_url()
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        for process in (self.oauth, self.dashboard):
            process.stop()
        self.pool.stop()
        self.sim.stop()

    def client(self) -> httpx.Client:
        """A fresh client (its own cookie jar) on the public origin."""
        return httpx.Client(base_url=self.url, timeout=30.0, follow_redirects=False)

    def gateway_log(self) -> str:
        return self.gateway.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def edge_stack(
    log_dir: Path, *, nats_url: str, redis_url: str, **env: Mapping[str, str]
) -> Iterator[EdgeStack]:
    stack = EdgeStack(log_dir, nats_url=nats_url, redis_url=redis_url, **env)
    try:
        yield stack
    finally:
        stack.stop()


def raw_request(port: int, head: bytes, body: bytes = b"", *, close_early: bool = False) -> bytes:
    """Send `head` (request line and headers, without the blank line) and `body` exactly as given
    to 127.0.0.1:port; the answer's bytes, or b"" when `close_early` (the client hangs up)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10.0) as sock:
        sock.sendall(head + b"\r\nconnection: close\r\n\r\n" + body)
        if close_early:
            return b""
        chunks: list[bytes] = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def headers_of(answer: bytes) -> list[tuple[str, str]]:
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return [
        (name.strip().lower(), value.strip()) for name, _, value in (line.partition(":") for line in head)
    ]
