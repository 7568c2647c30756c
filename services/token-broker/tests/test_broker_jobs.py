"""Periodic jobs (one replica per period), quota parking with the upstream's reset time, and
shutdown while requests wait."""

from __future__ import annotations

import asyncio
import time

from broker_helpers import BrokerBus, SimUrls, StartBroker, cred, creds_json, eventually, sim_cred

from kiro_testing.sim import AsyncSimControl
from kiroproto.bus import CredentialStatus, DenialReason, LeaseDenied, Outcome


async def test_usage_poll_runs_on_one_replica_per_period(
    start_broker: StartBroker, bus: BrokerBus, sim: AsyncSimControl, sim_urls: SimUrls
) -> None:
    one = await sim.add_account(credits_limit=100, credits_used=40)
    two = await sim.add_account(credits_limit=100)
    config = creds_json(sim_cred(one), sim_cred(two))
    await asyncio.gather(
        *(
            start_broker(run_jobs=True, kiro_auth_token=config, broker_usage_poll_interval="1h", **sim_urls)
            for _ in range(3)
        )
    )

    async def polled() -> bool:
        status = await bus.status()
        return all(c.usage is not None for c in status.credentials)

    await eventually(polled, what="usage limits of every credential")
    status = {c.id: c for c in (await bus.status()).credentials}
    usage = status[one["id"]].usage
    assert usage is not None and usage.remaining == 60
    # Three replicas, one period: each credential was polled once, by one of them.
    assert (
        await sim.counter(one["id"], "usage_calls") == 1 and await sim.counter(two["id"], "usage_calls") == 1
    )
    assert await sim.counter(one["id"], "refresh_calls") == 1  # the job refreshed the token once for it


async def test_refresh_job_renews_tokens_close_to_expiry(
    start_broker: StartBroker, bus: BrokerBus, sim: AsyncSimControl, sim_urls: SimUrls
) -> None:
    account = await sim.add_account()
    config = creds_json(sim_cred(account, accessToken="aoaOldButValid", expiresAt=_iso_in(300)))
    # Used once while the token is far from the (1 minute) margin: no refresh yet.
    first = await start_broker(kiro_auth_token=config, broker_refresh_margin="1m", **sim_urls)
    await bus.release(await bus.grant())
    await first.stop()
    assert await sim.counter(account["id"], "refresh_calls") == 0
    # With a 10 minute margin the job finds a recently used credential close to expiry.
    await start_broker(
        run_jobs=True,
        kiro_auth_token=config,
        broker_refresh_margin="10m",
        broker_usage_poll_interval="0",
        **sim_urls,
    )

    async def refreshed() -> bool:
        return await sim.counter(account["id"], "refresh_calls") == 1

    await eventually(refreshed, what="the background refresh")
    grant = await bus.grant()
    assert grant.access_token != "aoaOldButValid"


def _iso_in(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))


async def test_quota_parking_ends_at_the_upstream_reset(
    start_broker: StartBroker, bus: BrokerBus, sim: AsyncSimControl, sim_urls: SimUrls
) -> None:
    account = await sim.add_account(credits_limit=10, credits_used=10)
    await start_broker(kiro_auth_token=creds_json(sim_cred(account)), **sim_urls)
    grant = await bus.grant()
    await bus.release(grant, Outcome.QUOTA_EXHAUSTED, status_code=402)

    async def usage_seen() -> CredentialStatus | None:
        status = (await bus.status()).credentials[0]
        return status if status.usage is not None else None

    status = await eventually(usage_seen, what="the usage check after a 402")
    assert status.status == "quota_parked"
    assert status.usage is not None and status.usage.remaining == 0
    assert status.status_until == status.usage.next_reset_at


async def test_shutdown_answers_waiting_requests(start_broker: StartBroker, bus: BrokerBus) -> None:
    broker = await start_broker(kiro_auth_token=creds_json(cred("a")), session_pool_max_size=1)
    await bus.grant()
    waiter = asyncio.create_task(bus.acquire(wait_ms=20_000))

    async def waiting() -> bool:
        return len(broker.handlers) == 1

    await eventually(waiting, what="the request to wait")
    started = time.monotonic()
    await broker.stop()
    reply = await waiter
    assert isinstance(reply, LeaseDenied) and reply.reason == DenialReason.POOL_BUSY
    assert time.monotonic() - started < 2
