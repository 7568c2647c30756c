"""Configuration is the source of truth for configured accounts (issue 10 point 5): an account
removed from KIRO_AUTH_TOKEN is retired on start (kept, never leased), configuring it again
restores it, an unset variable retires nothing, brokers of a rolling update do not flap, and an
empty Redis is restored from OAUTH_TOKEN_FILE."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from kiro_testing import NatsServer, RedisServer
from kiro_testing.polling import poll
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import Stack, StackConfig
from kiroproto.bus import CREDENTIAL_ADD, CredentialAdd, CredentialStatusKind
from kiroproto.credentials import CredentialConfig
from tests.integration.pool_helpers import (
    chats,
    credential_action,
    message,
    start_broker,
    status_of,
    stop_broker,
)

pytestmark = pytest.mark.integration

MODEL = "claude-sonnet-4-5"


@pytest.fixture
def pool(sim: Sim, log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Stack]:
    pool = Stack(
        log_dir / "pool-config",
        StackConfig(brokers=0, gateways=0, credentials=[]),
        nats_url=nats_server.url,
        redis_url=redis_server.url,
        sim=sim,
    ).start()
    yield pool
    pool.stop()


def retired(pool: Stack, cid: str) -> bool:
    return status_of(pool, cid).status == CredentialStatusKind.RETIRED


def test_a_removed_account_is_retired_and_restored_when_configured_again(sim: Sim, pool: Stack) -> None:
    keep, drop = sim.add_account(rotate_refresh=True), sim.add_account(rotate_refresh=True)
    both = [credential(keep), credential(drop)]
    broker = start_broker(pool, both)
    pool.add_gateway()
    for _ in range(4):
        assert message(pool, MODEL).status_code == 200
    assert chats(sim, drop["id"]) >= 1
    stop_broker(pool, broker)

    broker = start_broker(pool, [credential(keep)])
    state = status_of(pool, drop["id"])
    assert state.status == CredentialStatusKind.RETIRED
    assert state.reason == "removed from KIRO_AUTH_TOKEN"
    assert pool.pool_status_sync().total == 2  # kept, never deleted
    assert "account retired" in broker.read_log()
    before = chats(sim, drop["id"])
    for _ in range(6):
        assert message(pool, MODEL).status_code == 200
    assert chats(sim, drop["id"]) == before  # no request after the restart
    stop_broker(pool, broker)

    # An unset variable retires nothing and restores nothing.
    broker = start_broker(pool, None)
    assert retired(pool, drop["id"]) and not retired(pool, keep["id"])
    stop_broker(pool, broker)

    # Configured again (with the refresh token as first configured): restored with its rotated token.
    start_broker(pool, both)
    assert status_of(pool, drop["id"]).status == CredentialStatusKind.ACTIVE
    poll(lambda: message(pool, MODEL).status_code == 200 and chats(sim, drop["id"]) > before, timeout=10.0)
    assert sim.account_stats(drop["id"])["rejections"].get("bearer_token", 0) == 0


def test_oauth_and_admin_accounts_are_never_retired_by_configuration(sim: Sim, pool: Stack) -> None:
    configured = sim.add_account()
    broker = start_broker(pool, [credential(configured)])
    # an account the admin API added (source admin) is not in the configuration
    added = sim.add_account()
    req = CredentialAdd(credential=CredentialConfig.model_validate(credential(added)), verify=True)
    assert asyncio.run(pool.bus_call(CREDENTIAL_ADD, req)).ok
    stop_broker(pool, broker)
    start_broker(pool, [credential(configured)])
    assert status_of(pool, added["id"]).status == CredentialStatusKind.ACTIVE
    assert status_of(pool, added["id"]).source == "admin"


def test_brokers_of_a_rolling_update_do_not_flap(sim: Sim, pool: Stack) -> None:
    keep, drop = sim.add_account(), sim.add_account()
    old = start_broker(pool, [credential(keep), credential(drop)])
    new = start_broker(pool, [credential(keep)])  # the new configuration, while the old broker runs
    assert not retired(pool, drop["id"])
    assert "brokers with another KIRO_AUTH_TOKEN are running" in new.read_log()
    # an old broker restarting mid-rollout changes nothing either
    stop_broker(pool, old)
    poll(lambda: retired(pool, drop["id"]), timeout=15.0, message="retired once the old broker is gone")
    old_again = start_broker(pool, [credential(keep), credential(drop)])
    assert retired(pool, drop["id"])
    stop_broker(pool, old_again)
    stop_broker(pool, new)
    # the newest configuration alone: restored at its start
    start_broker(pool, [credential(keep), credential(drop)])
    assert not retired(pool, drop["id"])


def test_an_empty_redis_is_restored_from_the_token_file(sim: Sim, pool: Stack, tmp_path: Path) -> None:
    account = sim.add_account(rotate_refresh=True)
    token_file = tmp_path / "tokens.json"
    broker = start_broker(pool, [credential(account)], OAUTH_TOKEN_FILE=str(token_file))
    pool.add_gateway()
    assert message(pool, MODEL).status_code == 200
    poll(lambda: token_file.exists(), timeout=5.0)
    credential_action_refresh(pool, account["id"])  # rotates the refresh token
    poll(
        lambda: (
            json.loads(token_file.read_text())[0]["refreshToken"]
            == sim.account(account["id"])["refresh_token"]
        ),
        timeout=10.0,
        message="rotated token mirrored",
    )
    stop_broker(pool, broker)
    client = redis.Redis.from_url(pool.redis_url, decode_responses=True)
    for key in client.scan_iter(match=f"{pool.prefix}:*"):
        client.delete(key)
    client.close()
    # the lost volume: no configuration, an empty Redis, the mirror file
    broker = start_broker(pool, None, OAUTH_TOKEN_FILE=str(token_file))
    assert "pool restored from OAUTH_TOKEN_FILE" in broker.read_log()
    state = status_of(pool, account["id"])
    assert state.source == "config"
    assert state.status == CredentialStatusKind.ACTIVE
    before = sim.account_stats(account["id"])["refresh_calls"]
    sim.expire_access_tokens(account["id"])
    poll(lambda: message(pool, MODEL).status_code == 200, timeout=10.0)
    assert sim.account_stats(account["id"])["refresh_calls"] > before  # the restored (rotated) token works


def credential_action_refresh(pool: Stack, cid: str) -> Any:
    ack = credential_action(pool, cid, "refresh")
    assert ack.ok, ack.message
    return ack
