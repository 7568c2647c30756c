"""Kiro API-key credentials (issue 10 point 4, reference §19.6): configured or added through the
admin API, sent as `Bearer ksk_…` with `tokentype: API_KEY`, never refreshed, catalogue and usage
fetched like any account, the key never shown."""

from __future__ import annotations

import asyncio

import pytest

from kiro_testing.polling import poll
from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim
from kiro_testing.stack import StackConfig
from kiroproto.bus import CREDENTIAL_ADD, CredentialAdd, CredentialAddResult
from kiroproto.credentials import CredentialConfig, fingerprint
from tests.integration.pool_helpers import (
    chats,
    last_model,
    message,
    status_of,
    wait_catalogues,
)

pytestmark = pytest.mark.integration


def test_an_api_key_account_serves_without_any_refresh(sim: Sim, stacks: Stacks) -> None:
    keyed = sim.add_account(auth="api_key")
    other = sim.add_account(auth="api_key")
    key, other_key = keyed["api_key"], other["api_key"]
    config = [
        {"auth": "ApiKey", "apiKey": key, "id": "org-key"},
        {"kiroApiKey": other_key, "region": "eu-central-1"},  # the other proxies' shape; id = hash
        {"auth": "ApiKey", "apiKey": "ksk_" + "x" * 40, "region": "ap-southeast-1"},  # no such region
    ]
    pool = stacks(StackConfig(credentials=config), sim=sim)
    try:
        wait_catalogues(pool, "org-key")
        ids = {c.id for c in pool.pool_status_sync().credentials}
        assert len(ids) == 2 and "org-key" in ids  # the bad region was reported and skipped
        hashed = next(i for i in ids if i != "org-key")
        assert hashed.startswith("cred-") and other_key not in hashed
        state = status_of(pool, "org-key")
        assert state.auth == "ApiKey" and state.source == "config"
        assert state.refresh_token_fingerprint in (None, "")
        assert state.access_token_fingerprint == fingerprint(key)
        assert state.models and state.region == "us-east-1"
        assert status_of(pool, hashed).region == "eu-central-1"
        for stream in (False, True, False, True):
            response = message(pool, "claude-opus-4-8", stream=stream)
            assert response.status_code == 200, response.text
            assert "event: message_stop" in response.text or response.json()["stop_reason"] == "end_turn"
        for account in (keyed, other):
            headers = sim.last_request(account["id"])["headers"]
            assert headers.get("tokentype") == "API_KEY"
            assert last_model(sim, account["id"]) == "claude-opus-4.8"
        assert chats(sim, keyed["id"]) + chats(sim, other["id"]) == 4
        poll(lambda: sim.account_stats(keyed["id"]).get("usage_calls", 0) >= 1, timeout=10.0)
        for account in (keyed, other):
            stats = sim.account_stats(account["id"])
            assert stats["refresh_calls"] == 0
            assert stats["models_calls"] >= 1
            assert stats["rejections"].get("bearer_token", 0) == 0
        broker_log = pool.brokers[0].read_log()
        assert "API keys are served only in us-east-1 and eu-central-1" in broker_log
        status_json = pool.pool_status_sync().model_dump_json()
        for secret in (key, other_key):
            assert secret not in broker_log and secret not in status_json
            assert secret not in pool.gateways[0].read_log()
    finally:
        pool.stop()


def test_the_admin_api_adds_an_api_key_after_checking_it(sim: Sim, stacks: Stacks) -> None:
    account = sim.add_account(auth="api_key")
    pool = stacks(StackConfig(credentials=[]), sim=sim)
    try:

        def add(api_key: str) -> CredentialAddResult:
            cfg = CredentialConfig.model_validate({"auth": "ApiKey", "apiKey": api_key, "id": "added-key"})
            req = CredentialAdd(credential=cfg, verify=True)
            return asyncio.run(pool.bus_call(CREDENTIAL_ADD, req))

        refused = add("ksk_" + "n" * 40)
        assert not refused.ok and "rejected the API key" in (refused.message or "")
        assert pool.pool_status_sync().total == 0
        added = add(account["api_key"])
        assert added.ok, added.message
        state = status_of(pool, "added-key")
        assert state.auth == "ApiKey" and state.source == "admin" and state.models
        response = message(pool, "claude-sonnet-5", stream=True)
        assert response.status_code == 200 and "event: message_stop" in response.text
        assert sim.account_stats(account["id"])["refresh_calls"] == 0
    finally:
        pool.stop()
