"""A pool (stack.py) plus the dashboard, for the team-key tests: keys are created and revoked
through the dashboard's `/api/keys`, usage is read back from its `/api/usage`, exactly as an
operator would; requests go to the gateways with the team keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from kiro_testing import PythonService, free_port
from tests.integration.stack import CLIENT_TOKEN, Pool, Sim, credential

ADMIN_TOKEN = "e2e-team-admin-" + "Qw8Rt5Yu2Io7Pa3S"
MODEL = "claude-sonnet-4-6"


class TeamStack:
    def __init__(
        self, log_dir: Path, *, nats_url: str, redis_url: str, sim: Sim, accounts: int = 2, gateways: int = 2
    ) -> None:
        self.sim = sim
        self.accounts = [sim.add_account() for _ in range(accounts)]
        self.pool = Pool(
            log_dir,
            nats_url=nats_url,
            redis_url=redis_url,
            sim_url=sim.url,
            credentials=[credential(a) for a in self.accounts],
            env={"SESSION_POOL_MAX_SIZE": "8"},
            gateway_env={"KIRO_ADMIN_TOKEN": ADMIN_TOKEN},  # /metrics on the gateway's port
        )
        self.dash_port = free_port()
        self.dashboard = PythonService(
            f"dashboard-{self.pool.namespace}",
            "dashboard",
            log_dir,
            {
                "NATS_URL": nats_url,
                "REDIS_URL": redis_url,
                "KIRO_BUS_NAMESPACE": self.pool.namespace,
                "KIRO_REDIS_PREFIX": self.pool.prefix,
                "KIRO_ADMIN_TOKEN": ADMIN_TOKEN,
                "KIRO_CLIENT_TOKEN": CLIENT_TOKEN,
                "DASHBOARD_HOST": "127.0.0.1",
                "DASHBOARD_PORT": str(self.dash_port),
                "LOG_LEVEL": "INFO",
            },
            f"http://127.0.0.1:{self.dash_port}/readyz",
        )
        try:
            self.pool.add_broker()
            self.dashboard.start()
            for _ in range(gateways):
                self.pool.add_gateway()
        except Exception:
            self.stop()
            raise
        self.admin = httpx.Client(
            base_url=self.dashboard_url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=15.0
        )

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dash_port}"

    def stop(self) -> None:
        if hasattr(self, "admin"):
            self.admin.close()
        self.dashboard.stop()
        self.pool.stop()

    # ------------------------------------------------------------ admin API
    def create_key(self, team: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        response = self.admin.post("/api/keys", json={"team": team, **fields})
        assert response.status_code == 201, response.text
        body = response.json()
        return str(body["secret"]), dict(body["key"])

    def revoke(self, key_id: str) -> dict[str, Any]:
        response = self.admin.delete(f"/api/keys/{key_id}")
        assert response.status_code == 200, response.text
        return dict(response.json()["key"])

    def usage(self, **params: str) -> dict[str, Any]:
        response = self.admin.get("/api/usage", params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())


def message_body(text: str = "hello", *, stream: bool = False, model: str = MODEL) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


@contextmanager
def team_stack(log_dir: Path, **kwargs: Any) -> Iterator[TeamStack]:
    stack = TeamStack(log_dir, **kwargs)
    try:
        yield stack
    finally:
        stack.stop()
