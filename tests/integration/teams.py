"""Team keys as an operator handles them: created and revoked through the dashboard's
`/api/keys`, usage read back from its `/api/usage`; requests go to the gateways with the team
keys. The deployment is a `kiro_testing.stack.Stack` with the dashboard."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import SimControl
from kiro_testing.stack import Stack, StackConfig

ADMIN_TOKEN = "e2e-team-admin-" + "Qw8Rt5Yu2Io7Pa3S"
MODEL = "claude-sonnet-4-6"


def teams_config(accounts: int = 2, gateways: int = 2, *, reuse: bool = True) -> StackConfig:
    """`reuse=False`: every request asks the broker for its lease (no slot reuse, slots.py), for
    tests that count leases per request."""
    return StackConfig(
        gateways=gateways,
        dashboard=True,
        forward_admin=False,
        admin_token=ADMIN_TOKEN,
        accounts=[{} for _ in range(accounts)],
        env={"SESSION_POOL_MAX_SIZE": "8", **({} if reuse else {"BROKER_LEASE_REUSE": "0"})},
        gateway_env={"KIRO_ADMIN_TOKEN": ADMIN_TOKEN},  # /metrics on the gateway's port
    )


class Teams:
    """The dashboard's admin API on a running stack (`pool`)."""

    def __init__(self, pool: Stack) -> None:
        self.pool = pool
        self.sim = pool.sim
        self.accounts = pool.accounts
        self.dashboard_url = pool.dashboard_url
        self.admin = httpx.Client(
            base_url=self.dashboard_url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=15.0
        )

    def close(self) -> None:
        self.admin.close()

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
def team_stack(
    stacks: Stacks, sim: SimControl, *, accounts: int = 2, gateways: int = 2, reuse: bool = True
) -> Iterator[Teams]:
    """A started stack with the dashboard (stopped with `stacks`), and its admin API."""
    teams = Teams(stacks(teams_config(accounts, gateways, reuse=reuse), sim=sim))
    try:
        yield teams
    finally:
        teams.close()
