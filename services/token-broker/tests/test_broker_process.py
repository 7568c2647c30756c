"""The broker as a real process: SIGKILL durability, SIGTERM exit, and its HTTP endpoints."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from broker_helpers import BrokerBus, cred, creds_json

from kiro_testing import NatsServer, PythonService, RedisServer, free_port
from kiroproto.bus import LeaseDenied, Outcome


def _broker(
    nats_server: NatsServer, redis_server: RedisServer, ns: str, log_dir: Path, port: int
) -> PythonService:
    env = {
        "NATS_URL": nats_server.url,
        "REDIS_URL": redis_server.url,
        "KIRO_BUS_NAMESPACE": ns,
        "KIRO_REDIS_PREFIX": ns,
        "KIRO_AUTH_TOKEN": creds_json(cred("a"), cred("b")),
        "KIRO_SECRET_KEY": "",
        "KIRO_ALLOW_PLAINTEXT_SECRETS": "true",  # plain on purpose: this test reads no secrets
        "OAUTH_TOKEN_FILE": "",
        "SESSION_POOL_MAX_SIZE": "2",
        "BROKER_LEASE_TTL": "8s",  # longer than a restart of the process on a loaded 2-core machine
        "BROKER_HOST": "127.0.0.1",
        "BROKER_PORT": str(port),
        "BROKER_USAGE_POLL_INTERVAL": "0",
        "LOG_LEVEL": "INFO",
    }
    return PythonService("broker", "token_broker", log_dir, env, f"http://127.0.0.1:{port}/readyz")


async def test_sigkill_keeps_credential_state_and_leases_expire(
    nats_server: NatsServer, redis_server: RedisServer, ns: str, bus: BrokerBus, tmp_path: Path
) -> None:
    port = free_port()
    proc = _broker(nats_server, redis_server, ns, tmp_path, port)
    await asyncio.to_thread(proc.start)
    try:
        grants = [await bus.grant() for _ in range(4)]
        assert sorted(g.credential_id for g in grants) == ["a", "a", "b", "b"]
        throttled = next(g for g in grants if g.credential_id == "a")
        await bus.release(throttled, Outcome.THROTTLED, status_code=429, retry_after_s=120)
        assert (await bus.action("b", "set_priority", priority=5)).ok
        await asyncio.to_thread(proc.kill)  # SIGKILL: no shutdown code runs

        await asyncio.to_thread(proc.start)
        status = {c.id: c for c in (await bus.status()).credentials}
        assert status["a"].status == "cooling_down" and status["a"].errors == 1
        assert status["b"].priority == 5
        # The leases granted before the kill still count, until their TTL (8 s) ends.
        early = await bus.acquire(wait_ms=0)
        assert isinstance(early, LeaseDenied), "restarting took longer than the lease TTL"

        # Both slots of "b" free up when the dead leases expire: the requests wait for that.
        later = [await bus.grant(wait_ms=15_000), await bus.grant(wait_ms=15_000)]
        assert {g.credential_id for g in later} == {"b"}

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            ready = await http.get("/readyz")
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"})  # CONTRACTS.md shape
            metrics = (await http.get("/metrics")).text
        assert "kiro_broker_leases_granted_total 2.0" in metrics
        assert 'kiro_broker_credentials{status="cooling_down"} 1.0' in metrics
        assert "kiro_broker_lease_wait_seconds_bucket" in metrics
        assert "aoaAccess" not in metrics and "aorRefresh" not in metrics
    finally:
        code = await asyncio.to_thread(proc.stop)
    assert code == 0  # SIGTERM: drained and exited cleanly
    log = proc.read_log()
    assert "aoaAccess" not in log and "aorRefresh" not in log  # no token in the logs
    assert '"msg": "token broker stopped"' in log or '"msg":"token broker stopped"' in log
