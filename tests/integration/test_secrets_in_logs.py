"""No secret in any service log: access tokens (`aoa…`), refresh tokens (`aor…`), client secrets,
client and admin keys, team keys.

A stack at `LOG_LEVEL=DEBUG` is driven through every path that handles a secret (an IdC
credential added with its client secret and verified, refreshes that rotate the refresh token,
expired access tokens, team keys, wrong keys, admin actions, streaming and JSON answers of both
API shapes). Then every log file of that stack, and every `*.log` that the test run wrote so far
under pytest's base temp folder (the other integration tests' services), goes through the
scanner: token-shaped strings and every secret the test knows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kiro_testing.chaos.deployment import ADMIN_KEY, CLIENT_KEY, cluster_config
from kiro_testing.chaos.ledger import scan_for_secrets
from kiro_testing.stack import CLIENT_TOKEN, Stack
from kiroproto.bus import CREDENTIAL_ACTION, CREDENTIAL_ADD, CredentialAction, CredentialAdd
from kiroproto.credentials import CredentialConfig

pytestmark = [pytest.mark.integration]

# Secrets other test modules configure (their logs are scanned too).
OTHER_TEST_SECRETS = (CLIENT_TOKEN,)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = cluster_config(gateways=1, brokers=1, accounts=2, log_level="DEBUG", rotate_refresh=True)
    with Stack(tmp_path_factory.mktemp("secrets"), config) as c:
        yield c


def _drive(cluster: Stack) -> list[str]:
    """Every secret-handling path once; returns the secrets it created along the way."""
    sim = cluster.sim
    created: list[str] = []
    idc = sim.add_account(id="idc1", auth="idc", rotate_refresh=True)
    created += [str(idc["refresh_token"]), str(idc["client_secret"])]
    config = CredentialConfig.model_validate(
        {
            "id": "idc1",
            "auth": "IdC",
            "refreshToken": idc["refresh_token"],
            "clientId": idc["client_id"],
            "clientSecret": idc["client_secret"],
        }
    )

    async def bus() -> None:
        added = await cluster.bus_call(CREDENTIAL_ADD, CredentialAdd(credential=config, verify=True), 20.0)
        assert added.ok
        for cid in [*cluster.account_ids, "idc1"]:
            await cluster.bus_call(
                CREDENTIAL_ACTION, CredentialAction(credential_id=cid, action="refresh"), 20.0
            )
        key = await cluster.create_team_key("secrets")
        if key:
            created.append(key)

    asyncio.run(bus())
    with httpx.Client(base_url=cluster.gateway_url(0), timeout=30.0, trust_env=False) as http:
        keys = [CLIENT_KEY, *created[2:]]
        for round_ in range(2):
            for account in [*cluster.account_ids, "idc1"]:
                sim.expire_access_tokens(account)
            for key in keys:
                for stream in (False, True):
                    r = http.post(
                        "/v1/messages",
                        headers={"x-api-key": key},
                        json={
                            "model": "claude-sonnet-4-5",
                            "max_tokens": 16,
                            "stream": stream,
                            "messages": [{"role": "user", "content": f"secret scan {round_}"}],
                        },
                    )
                    assert r.status_code == 200, r.text
                    r = http.post(
                        "/v1/chat/completions",
                        headers={"authorization": f"Bearer {key}"},
                        json={
                            "model": "claude-sonnet-4-5",
                            "stream": stream,
                            "messages": [{"role": "user", "content": "x"}],
                        },
                    )
                    assert r.status_code == 200, r.text
        for wrong in (CLIENT_KEY + "x", ADMIN_KEY, "sk-ant-" + "z" * 40):
            assert http.post("/v1/messages", headers={"x-api-key": wrong}, json={}).status_code == 401
            assert http.get("/v1/models", headers={"authorization": f"Bearer {wrong}"}).status_code == 401
    return created


def _all_logs(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*.log")):
        if path.is_file():
            out[str(path.relative_to(root))] = path.read_text(errors="replace")
    return out


def test_no_secret_in_any_service_log(cluster: Stack, tmp_path_factory: pytest.TempPathFactory) -> None:
    created = _drive(cluster)
    accounts = cluster.sim.accounts()
    stats = cluster.sim.stats()
    known = [CLIENT_KEY, ADMIN_KEY, *OTHER_TEST_SECRETS, *created]
    for account in accounts:
        known += [str(account.get(k) or "") for k in ("refresh_token", "client_secret")]
    known += list(stats.get("access_tokens", {}))
    for account_stats in stats.get("accounts", {}).values():
        known += list(account_stats.get("refresh_calls_by_token", {}))  # every rotated-away token too
    logs = _all_logs(tmp_path_factory.getbasetemp())
    assert any("broker" in name for name in logs) and any("gateway" in name for name in logs)
    rotated = sum(len(a.get("refresh_calls_by_token", {})) for a in stats.get("accounts", {}).values())
    assert rotated > len(accounts)  # refresh tokens really rotated while the logs were written
    findings = scan_for_secrets(logs, known)
    assert findings == [], "\n".join(findings[:50])
