"""The whole stack for the admin browser tests: simulator, broker, gateway, dashboard and oauth as
processes on free ports (over the session's nats-server and redis-server), plus Chromium.

Reuses `stack.py` (simulator control API, broker and gateway processes); adds the two admin
services, whose URLs the gateway forwards `/`, `/api/*`, static assets and `/oauth*` to, so the
browser only ever talks to the gateway's origin. Also collects what the secrets test looks for:
every token, refresh token and client secret the simulator issued, and the admin / client keys.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from kiro_testing import PythonService, free_port
from tests.integration.stack import CLIENT_TOKEN, Pool, Sim, credential

ADMIN_TOKEN = "e2e-admin-" + "Kx7Qm2Wv9Lp4Rt8Zc3Nb"
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


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is not None


class AdminStack:
    def __init__(self, log_dir: Path, *, nats_url: str, redis_url: str, accounts: int = 2) -> None:
        self.log_dir = log_dir
        self.sim = Sim(log_dir, env={"KIRO_SIM_DEVICE_INTERVAL": "1"})
        self.sim.start()
        self.accounts = [
            self.sim.add_account(credits_limit=500.0, trial_credits=100.0) for _ in range(accounts)
        ]
        dash_port, oauth_port = free_port(), free_port()
        self.pool = Pool(
            log_dir,
            nats_url=nats_url,
            redis_url=redis_url,
            sim_url=self.sim.url,
            credentials=[credential(a) for a in self.accounts],
            gateway_env={
                "GATEWAY_DASHBOARD_URL": f"http://127.0.0.1:{dash_port}",
                "GATEWAY_OAUTH_URL": f"http://127.0.0.1:{oauth_port}",
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
                "DASHBOARD_PORT": str(dash_port),
                "DASHBOARD_POOL_POLL_INTERVAL": "1",
                "DASHBOARD_TRAFFIC_PUSH_INTERVAL": "1",
            },
            f"http://127.0.0.1:{dash_port}/readyz",
        )
        self.oauth = PythonService(
            "oauth",
            "kiro_oauth",
            log_dir,
            {
                **admin_env,
                "OAUTH_HOST": "127.0.0.1",
                "OAUTH_PORT": str(oauth_port),
                "KIRO_AUTH_BASE_URL": self.sim.url,
                "KIRO_OIDC_BASE_URL": self.sim.url,
            },
            f"http://127.0.0.1:{oauth_port}/readyz",
        )
        self.processes = [self.dashboard, self.oauth]
        try:
            self.pool.add_broker()
            self.dashboard.start()
            self.oauth.start()
            self.pool.add_gateway()
        except Exception:
            self.stop()
            raise
        self.url = self.pool.gateway_url()
        self.http = httpx.Client(base_url=self.url, timeout=30.0)

    def stop(self) -> None:
        if hasattr(self, "http"):
            self.http.close()
        for process in reversed(self.processes):
            process.stop()
        self.pool.stop()
        self.sim.stop()

    # ------------------------------------------------------------ calls through the gateway
    def chat(self, text: str = "hello", *, stream: bool = False) -> httpx.Response:
        body = {
            "model": MODEL,
            "max_tokens": 64,
            "stream": stream,
            "messages": [{"role": "user", "content": text}],
        }
        return self.http.post("/v1/messages", json=body, headers={"x-api-key": CLIENT_TOKEN})

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, **kwargs)

    def chat_requests(self, account_id: str) -> int:
        return int(self.sim.account_stats(account_id).get("chat_requests", 0))

    def sim_accounts(self) -> list[dict[str, Any]]:
        body = self.sim._call("GET", "/_sim/accounts")  # noqa: SLF001 - the stack's own control client
        return list(body["accounts"] if isinstance(body, dict) else body)

    # ------------------------------------------------------------ the secrets test
    def secrets(self) -> set[str]:
        found = {ADMIN_TOKEN, CLIENT_TOKEN}
        for account in self.sim_accounts():
            for key in ("refresh_token", "client_secret"):
                if account.get(key):
                    found.add(str(account[key]))
        found.update(self.sim.stats()["access_tokens"].keys())
        return {s for s in found if len(s) >= 8}

    def log_files(self) -> list[Path]:
        return sorted(p for p in self.log_dir.glob("*.log") if p.is_file())


@contextmanager
def admin_stack(log_dir: Path, *, nats_url: str, redis_url: str, accounts: int = 2) -> Iterator[AdminStack]:
    stack = AdminStack(log_dir, nats_url=nats_url, redis_url=redis_url, accounts=accounts)
    try:
        yield stack
    finally:
        stack.stop()
