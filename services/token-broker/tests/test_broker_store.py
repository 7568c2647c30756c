"""Configuration merge into Redis, encryption at rest, and what never leaves the broker."""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path

import pytest
from broker_helpers import BrokerBus, SimUrls, StartBroker, cred, creds_json, sim_cred
from redis.asyncio import Redis

from kiro_testing.sim import AsyncSimControl
from kiroproto.credentials import credential_identity


async def _dump(redis_client: Redis, prefix: str) -> str:
    """Every key under the prefix with every value, as one string."""
    parts: list[str] = []
    async for key in redis_client.scan_iter(match=f"{prefix}:*"):
        kind = await redis_client.type(key)
        value: object
        if kind == "hash":
            value = await redis_client.hgetall(key)
        elif kind == "set":
            value = sorted(await redis_client.smembers(key))
        elif kind == "zset":
            value = await redis_client.zrange(key, 0, -1, withscores=True)
        else:
            value = await redis_client.get(key)
        parts.append(f"{key}={value!r}")
    return "\n".join(parts)


async def test_configured_fields_apply_only_on_first_insert(
    start_broker: StartBroker, bus: BrokerBus, ns: str
) -> None:
    config = creds_json(cred("a", priority=0), cred("b"))
    first = await start_broker(kiro_auth_token=config)
    assert set(first.load_report.inserted) == {"a", "b"}
    assert (await bus.action("a", "set_priority", priority=9)).ok
    assert (await bus.action("b", "disable")).ok
    assert (await bus.action("b", "enable")).ok
    assert (await bus.action("b", "disable")).ok
    await first.stop()
    again = await start_broker(kiro_auth_token=config)
    assert set(again.load_report.kept) == {"a", "b"} and not again.load_report.inserted
    status = {c.id: c for c in (await bus.status()).credentials}
    assert status["a"].priority == 9  # Redis wins over the configuration
    assert status["b"].status == "disabled"


async def test_identity_is_the_hash_of_the_first_refresh_token(
    start_broker: StartBroker, bus: BrokerBus
) -> None:
    item = cred("x")
    del item["id"]
    broker = await start_broker(kiro_auth_token=creds_json(item))
    expected = credential_identity(item["refreshToken"])
    assert broker.load_report.inserted == (expected,)
    assert (await bus.grant()).credential_id == expected


async def test_bad_entries_are_reported_by_index_and_skipped(
    start_broker: StartBroker, bus: BrokerBus, caplog: pytest.LogCaptureFixture
) -> None:
    entries = [
        cred("ok1"),
        {"auth": "IdC", "refreshToken": "aorX"},
        "not an object",
        cred("ok2"),
        cred("ok1"),
    ]
    caplog.set_level(logging.ERROR, logger="token_broker.store")
    broker = await start_broker(kiro_auth_token=json.dumps(entries))
    assert set(broker.load_report.inserted) == {"ok1", "ok2"}
    assert [index for index, _ in broker.load_report.problems] == [1, 2, 4]
    assert "clientId and clientSecret" in broker.load_report.problems[0][1]
    assert "KIRO_AUTH_TOKEN entry 1 skipped" in caplog.text
    assert (await bus.status()).total == 2


async def test_credentials_from_a_file_path(
    start_broker: StartBroker, bus: BrokerBus, tmp_path: Path
) -> None:
    path = tmp_path / "kiro-auth-token.json"
    path.write_text(json.dumps(cred("filed")))  # a single object, as the Kiro IDE writes it
    await start_broker(kiro_auth_token=str(path))
    assert (await bus.grant()).credential_id == "filed"


async def test_deleted_credentials_are_not_reimported(start_broker: StartBroker, bus: BrokerBus) -> None:
    config = creds_json(cred("a"), cred("b"))
    first = await start_broker(kiro_auth_token=config)
    assert (await bus.action("a", "delete")).ok
    await first.stop()
    again = await start_broker(kiro_auth_token=config)
    assert again.load_report.skipped_deleted == ("a",)
    assert [c.id for c in (await bus.status()).credentials] == ["b"]
    assert (await bus.add(cred("a"), verify=False)).ok  # an explicit add brings it back
    assert (await bus.status()).total == 2


async def test_no_plain_secret_in_redis_when_a_key_is_set(
    start_broker: StartBroker,
    bus: BrokerBus,
    sim: AsyncSimControl,
    sim_urls: SimUrls,
    redis_client: Redis,
    ns: str,
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    social = await sim.add_account(rotate_refresh=True)
    idc = await sim.add_account(auth="IdC")
    config = creds_json(sim_cred(social), sim_cred(idc), cred("static"))
    await start_broker(kiro_auth_token=config, kiro_secret_key=key, session_pool_max_size=1, **sim_urls)
    grants = [await bus.grant(), await bus.grant(), await bus.grant()]
    assert {g.credential_id for g in grants} == {social["id"], idc["id"], "static"}
    rotated = (await sim.account(social["id"]))["refresh_token"]
    secrets = [
        social["refresh_token"],
        rotated,
        idc["refresh_token"],
        idc["client_id"],
        idc["client_secret"],
        cred("static")["refreshToken"],
        *(g.access_token for g in grants),
    ]
    dump = await _dump(redis_client, ns)
    assert "enc:v1:" in dump
    for secret in secrets:
        assert secret not in dump
    status_json = (await bus.status()).model_dump_json()
    for secret in secrets:
        assert secret not in status_json


async def test_plain_storage_warns_at_start(
    start_broker: StartBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="token_broker.runtime")
    await start_broker(kiro_auth_token=creds_json(cred("a")))
    assert "KIRO_SECRET_KEY is not set" in caplog.text


async def test_a_wrong_key_makes_the_credential_unusable_not_the_pool(
    start_broker: StartBroker, bus: BrokerBus, ns: str
) -> None:
    key1 = base64.b64encode(os.urandom(32)).decode()
    key2 = base64.b64encode(os.urandom(32)).decode()
    first = await start_broker(kiro_auth_token=creds_json(cred("a")), kiro_secret_key=key1)
    await first.stop()
    await start_broker(kiro_auth_token=creds_json(cred("a"), cred("b")), kiro_secret_key=key2)
    grant = await bus.grant()
    assert grant.credential_id == "b"  # "a" does not decrypt with the new key and is skipped


async def test_pool_status_has_no_secrets(start_broker: StartBroker, bus: BrokerBus) -> None:
    items = [
        cred("a"),
        cred("b", auth="IdC", clientId="client-id-123456", clientSecret="client-secret-abcdef"),
    ]
    await start_broker(kiro_auth_token=creds_json(*items))
    await bus.release(await bus.grant())
    text = (await bus.status()).model_dump_json()
    for item in items:
        for field in ("refreshToken", "accessToken", "clientId", "clientSecret"):
            if field in item:
                assert item[field] not in text
    assert "sha256:" in text


@pytest.mark.parametrize("value", ["not-base64!", base64.b64encode(b"short").decode()])
def test_a_bad_secret_key_fails_startup(value: str) -> None:
    from token_broker import Settings

    with pytest.raises(ValueError, match="KIRO_SECRET_KEY"):
        Settings(_env_file=None, kiro_secret_key=value)
