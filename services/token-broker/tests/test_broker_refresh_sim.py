"""Token refresh against the project's Kiro simulator over real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

from broker_helpers import BrokerBus, SimUrls, StartBroker, cred, creds_json, eventually, sim_cred

from kiro_testing.sim import AsyncSimControl
from kiroproto.bus import LeaseDenied, LeaseGrant, Outcome
from kiroproto.credentials import fingerprint


async def test_first_use_refreshes_and_persists_the_rotation(
    start_broker: StartBroker, bus: BrokerBus, sim: AsyncSimControl, sim_urls: SimUrls, tmp_path: Path
) -> None:
    account = await sim.add_account(rotate_refresh=True)
    mirror = tmp_path / "mirror" / "tokens.json"
    await start_broker(
        kiro_auth_token=creds_json(sim_cred(account)), oauth_token_file=str(mirror), **sim_urls
    )
    grant = await bus.grant()
    assert grant.access_token.startswith("aoa")
    assert await sim.counter(account["id"], "refresh_calls") == 1
    rotated = (await sim.account(account["id"]))["refresh_token"]
    assert rotated != account["refresh_token"]
    status = (await bus.status()).credentials[0]
    assert status.refresh_token_fingerprint == fingerprint(rotated)
    assert status.access_token_fingerprint == grant.token_fingerprint

    async def mirrored() -> list[dict[str, object]] | None:
        if not mirror.exists():
            return None
        items = json.loads(mirror.read_text())
        return items if items and items[0].get("refreshToken") == rotated else None

    items = await eventually(mirrored, what="the rotated token in OAUTH_TOKEN_FILE")
    assert items[0]["id"] == account["id"] and items[0]["accessToken"] == grant.access_token
    assert stat.S_IMODE(os.stat(mirror).st_mode) == 0o600


async def test_idc_refresh(
    start_broker: StartBroker, bus: BrokerBus, sim: AsyncSimControl, sim_urls: SimUrls
) -> None:
    account = await sim.add_account(auth="IdC")
    await start_broker(kiro_auth_token=creds_json(sim_cred(account)), **sim_urls)
    grant = await bus.grant()
    assert grant.auth == "IdC" and grant.access_token.startswith("aoa")
    assert await sim.counter(account["id"], "refresh_calls") == 1


async def test_token_invalid_gives_exactly_one_refresh(
    start_broker: StartBroker, bus: BrokerBus, sim: AsyncSimControl, sim_urls: SimUrls
) -> None:
    account = await sim.add_account(rotate_refresh=True)
    config = creds_json(sim_cred(account))
    await start_broker(kiro_auth_token=config, session_pool_max_size=50, **sim_urls)
    await start_broker(kiro_auth_token=config, session_pool_max_size=50, **sim_urls)
    grants = list(await asyncio.gather(*(bus.grant() for _ in range(12))))
    assert await sim.counter(account["id"], "refresh_calls") == 1  # the first use
    old_fp = grants[0].token_fingerprint
    assert {g.token_fingerprint for g in grants} == {old_fp}
    # Every request saw the same dead token; releases and new acquires race on both brokers.
    releases = [
        bus.release(g, Outcome.TOKEN_INVALID, status_code=403, token_fingerprint=old_fp) for g in grants
    ]
    results = await asyncio.gather(*releases, *(bus.acquire() for _ in range(12)))
    late = [r for r in results if isinstance(r, LeaseGrant)]
    assert all(isinstance(r, LeaseGrant) for r in results[12:])
    fresh = await eventually(lambda: _fresh_grant(bus, old_fp), what="a grant with the new token")
    assert await sim.counter(account["id"], "refresh_calls") == 2  # exactly one refresh for the dead token
    # A late release that still carries the old fingerprint does not trigger another refresh.
    await bus.release(late[0], Outcome.TOKEN_INVALID, token_fingerprint=old_fp)
    again = await bus.grant()
    assert again.token_fingerprint == fresh.token_fingerprint
    assert await sim.counter(account["id"], "refresh_calls") == 2


async def _fresh_grant(bus: BrokerBus, old_fp: str) -> LeaseGrant | None:
    grant = await bus.grant()
    await bus.release(grant)
    return grant if grant.token_fingerprint != old_fp else None


async def test_invalid_grant_marks_invalid_and_others_serve(
    start_broker: StartBroker, bus: BrokerBus, sim: AsyncSimControl, sim_urls: SimUrls
) -> None:
    bad = await sim.add_account()
    good = await sim.add_account()
    await sim.revoke(bad["id"])
    config = creds_json(sim_cred(bad, priority=0), sim_cred(good, priority=1))
    await start_broker(kiro_auth_token=config, **sim_urls)
    grant = await bus.grant()
    assert grant.credential_id == good["id"]  # the revoked one was tried first, then skipped
    status = {c.id: c for c in (await bus.status()).credentials}
    assert status[bad["id"]].status == "invalid" and status[bad["id"]].reason == "invalid_grant"
    await bus.release(grant)
    for _ in range(3):
        again = await bus.grant()
        assert again.credential_id == good["id"]
        await bus.release(again)
    assert await sim.counter(bad["id"], "refresh_calls") == 1  # never retried on its own


async def test_transient_refresh_failure_backs_off(
    start_broker: StartBroker, bus: BrokerBus, sim: AsyncSimControl, sim_urls: SimUrls
) -> None:
    flaky = await sim.add_account()
    await sim.fault(flaky["id"], "refresh", {"status": 500}, times=1)
    await start_broker(kiro_auth_token=creds_json(sim_cred(flaky)), **sim_urls)
    denied = await bus.acquire()
    assert isinstance(denied, LeaseDenied) and denied.reason == "no_credential"
    assert 1 <= denied.retry_after_s <= 5  # the refresh backoff, not a tight loop
    assert (await bus.status()).credentials[0].status == "active"
    assert await sim.counter(flaky["id"], "refresh_calls") == 1
    grant = await eventually(lambda: _grant(bus), within_s=10, what="a grant after the backoff")
    assert grant.access_token.startswith("aoa")
    assert await sim.counter(flaky["id"], "refresh_calls") == 2


async def _grant(bus: BrokerBus) -> LeaseGrant | None:
    reply = await bus.acquire()
    return reply if isinstance(reply, LeaseGrant) else None


async def test_rotated_token_in_redis_survives_a_restart(
    start_broker: StartBroker, bus: BrokerBus, sim: AsyncSimControl, sim_urls: SimUrls
) -> None:
    account = await sim.add_account(rotate_refresh=True)
    config = creds_json(sim_cred(account))  # keeps naming the original refresh token
    first = await start_broker(kiro_auth_token=config, **sim_urls)
    await bus.grant()
    await first.stop()
    await start_broker(kiro_auth_token=config, **sim_urls)
    ack = await bus.action(account["id"], "refresh")  # uses the rotated token from Redis
    assert ack.ok, ack.message
    assert (await bus.status()).credentials[0].status == "active"
    assert await sim.counter(account["id"], "refresh_calls") == 2


async def test_add_verifies_with_a_refresh(
    start_broker: StartBroker, bus: BrokerBus, sim: AsyncSimControl, sim_urls: SimUrls
) -> None:
    await start_broker(**sim_urls)
    revoked = await sim.add_account()
    await sim.revoke(revoked["id"])
    result = await bus.add(sim_cred(revoked))
    assert not result.ok and "invalid_grant" in (result.message or "")
    assert (await bus.status()).total == 0
    account = await sim.add_account()
    result = await bus.add(sim_cred(account))
    assert result.ok and result.credential_id == account["id"]
    grant = await bus.grant()
    assert grant.credential_id == account["id"]
    assert await sim.counter(account["id"], "refresh_calls") == 1  # the verification's token is used


async def test_check_usage_action_stores_limits(
    start_broker: StartBroker, bus: BrokerBus, sim: AsyncSimControl, sim_urls: SimUrls
) -> None:
    account = await sim.add_account(credits_limit=50, credits_used=12.5, trial_credits=100)
    await start_broker(kiro_auth_token=creds_json(sim_cred(account)), **sim_urls)
    ack = await bus.action(account["id"], "check_usage")
    assert ack.ok, ack.message
    usage = (await bus.status()).credentials[0].usage
    assert usage is not None and usage.limit == 150 and usage.used == 12.5
    assert usage.next_reset_at is not None


async def test_unknown_credential_actions(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")))
    ack = await bus.action("nope", "disable")
    assert not ack.ok and "unknown credential" in (ack.message or "")
    ack = await bus.action("a", "set_priority")
    assert not ack.ok
    assert (await bus.action("a", "set_priority", priority=7)).ok
    assert (await bus.status()).credentials[0].priority == 7
    assert (await bus.action("a", "delete")).ok
    assert (await bus.status()).total == 0
