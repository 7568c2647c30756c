"""The public origin as `make run` builds it: simulator, broker, gateway, dashboard and oauth as
processes on free ports (over the session's nats-server and redis-server), the gateway
forwarding `/`, `/api/*`, static assets and `/oauth*` to the two admin services, so a browser
only ever talks to the gateway's origin. The deployment is a `kiro_testing.stack.Stack`;
`Origin` holds the clients the admin, browser and edge tests use, raw-socket helpers for
requests an HTTP library would "fix" before sending (`--path-as-is`, bodies cut short), and
what the secrets test looks for (every token, refresh token and client secret the simulator
issued, and the admin / client keys).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from kiro_testing.stack import ADMIN_TOKEN, CLIENT_TOKEN, Stack, StackConfig

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
MODEL = "claude-sonnet-4-6"
ACCOUNT = {"credits_limit": 500.0, "trial_credits": 100.0}


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is not None


def origin_config(
    *,
    accounts: int = 1,
    gateway_env: Mapping[str, str] | None = None,
    dashboard_env: Mapping[str, str] | None = None,
    oauth_env: Mapping[str, str] | None = None,
    sim_env: Mapping[str, str] | None = None,
) -> StackConfig:
    return StackConfig(
        dashboard=True,
        oauth=True,
        admin_token=ADMIN_TOKEN,
        accounts=[dict(ACCOUNT) for _ in range(accounts)],
        gateway_env=dict(gateway_env or {}),
        dashboard_env=dict(dashboard_env or {}),
        oauth_env=dict(oauth_env or {}),
        sim_env=dict(sim_env or {}),
    )


class Origin:
    """Clients of a running public origin (`pool`: the stack)."""

    def __init__(self, pool: Stack) -> None:
        self.pool = pool
        self.sim = pool.sim
        self.accounts = pool.accounts
        self.log_dir = pool.log_dir
        self.gateway = pool.gateways[0]
        self.url = pool.url
        self.port = pool.port
        self.dashboard_port = pool.dashboard_port
        self.oauth_port = pool.oauth_port
        assert pool.dashboard is not None and pool.oauth is not None
        self.dashboard = pool.dashboard
        self.oauth = pool.oauth
        self.http = httpx.Client(base_url=self.url, timeout=30.0)

    def close(self) -> None:
        self.http.close()

    def client(self) -> httpx.Client:
        """A fresh client (its own cookie jar) on the public origin."""
        return httpx.Client(base_url=self.url, timeout=30.0, follow_redirects=False)

    def gateway_log(self) -> str:
        return self.gateway.log_path.read_text(encoding="utf-8", errors="replace")

    def chat(self, text: str = "hello", *, stream: bool = False) -> httpx.Response:
        body = {
            "model": MODEL,
            "max_tokens": 64,
            "stream": stream,
            "messages": [{"role": "user", "content": text}],
        }
        return self.http.post("/v1/messages", json=body, headers={"x-api-key": CLIENT_TOKEN})

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers=ADMIN, **kwargs)

    def chat_requests(self, account_id: str) -> int:
        return self.sim.chat_requests(account_id)

    def sim_accounts(self) -> list[dict[str, Any]]:
        return self.sim.accounts()

    def secrets(self) -> set[str]:
        found = {ADMIN_TOKEN, CLIENT_TOKEN}
        for account in self.sim_accounts():
            for key in ("refresh_token", "client_secret"):
                if account.get(key):
                    found.add(str(account[key]))
        found.update(self.sim.stats()["access_tokens"].keys())
        return {s for s in found if len(s) >= 8}

    def log_files(self) -> list[Path]:
        return self.pool.log_files()


@contextlib.contextmanager
def public_origin(log_dir: Path, *, nats_url: str, redis_url: str, **options: Any) -> Iterator[Origin]:
    """A running origin (`options`: those of `origin_config`)."""
    with Stack(log_dir, origin_config(**options), nats_url=nats_url, redis_url=redis_url) as pool:
        origin = Origin(pool)
        try:
            yield origin
        finally:
            origin.close()


def browser_origin(
    log_dir: Path, *, nats_url: str, redis_url: str
) -> contextlib.AbstractContextManager[Origin]:
    """For the admin browser tests: two accounts, a short device-code interval, pool and traffic
    pushed every second."""
    return public_origin(
        log_dir,
        nats_url=nats_url,
        redis_url=redis_url,
        accounts=2,
        sim_env={"KIRO_SIM_DEVICE_INTERVAL": "1"},
        dashboard_env={"DASHBOARD_POOL_POLL_INTERVAL": "1", "DASHBOARD_TRAFFIC_PUSH_INTERVAL": "1"},
    )


def edge_origin(
    log_dir: Path,
    *,
    nats_url: str,
    redis_url: str,
    gateway_env: Mapping[str, str] | None = None,
    dashboard_env: Mapping[str, str] | None = None,
    oauth_env: Mapping[str, str] | None = None,
) -> contextlib.AbstractContextManager[Origin]:
    """For the edge tests: the gateway holds the admin key (its own /metrics); per-service
    environment overrides (metrics ports, trusted proxies, login limits)."""
    return public_origin(
        log_dir,
        nats_url=nats_url,
        redis_url=redis_url,
        gateway_env={"KIRO_ADMIN_TOKEN": ADMIN_TOKEN, **dict(gateway_env or {})},
        dashboard_env=dashboard_env,
        oauth_env=oauth_env,
    )


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
