"""Finding 2 (store) and the `KIRO_SECRET_KEY` contract: `redis-cli HGETALL` showed refresh and
access tokens in plain text because the key was optional and unset by default.

Outside `make run` the broker now refuses to start without a key (unless plain text is accepted
explicitly), and a key given to a pool stored in plain text seals every record at start.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import redis

from kiro_service.bus import call_once
from kiro_testing import NatsServer, PythonService, RedisServer, free_port
from kiro_testing.stack import SECRET_KEY
from kiroproto.bus import LEASE_ACQUIRE, LeaseGrant, LeaseRequest

pytestmark = pytest.mark.integration

REFRESH = "aorRefresh-atrest-" + uuid.uuid4().hex * 2
ACCESS = "aoaAccess-atrest-" + uuid.uuid4().hex * 2


def _credentials() -> str:
    expires = (datetime.now(UTC) + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    cred = {"id": "a", "auth": "Social", "refreshToken": REFRESH, "accessToken": ACCESS, "expiresAt": expires}
    return orjson.dumps([cred]).decode()


def _env(nats_server: NatsServer, redis_server: RedisServer, ns: str, **extra: str) -> dict[str, str]:
    return {
        "NATS_URL": nats_server.url,
        "REDIS_URL": redis_server.url,
        "KIRO_BUS_NAMESPACE": ns,
        "KIRO_REDIS_PREFIX": ns,
        "KIRO_AUTH_TOKEN": _credentials(),
        "BROKER_HOST": "127.0.0.1",
        "BROKER_USAGE_POLL_INTERVAL": "0",
        **extra,
    }


def test_the_broker_refuses_to_start_without_a_secret_key(
    nats_server: NatsServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KIRO_", "NATS_", "REDIS_"))}
    env = {
        **base,
        **_env(nats_server, redis_server, "rest" + uuid.uuid4().hex[:6], BROKER_PORT=str(free_port())),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "token_broker"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "KIRO_SECRET_KEY is not set" in proc.stderr and "KIRO_ALLOW_PLAINTEXT_SECRETS" in proc.stderr


def _record(redis_server: RedisServer, ns: str) -> dict[str, str]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        return {str(k): str(v) for k, v in client.hgetall(f"{ns}:broker:cred:a").items()}
    finally:
        client.close()


async def _lease(nats_url: str, ns: str) -> LeaseGrant:
    request = LeaseRequest(request_id=uuid.uuid4().hex, model="claude-sonnet-4.5", wait_ms=2000)
    envelope = await call_once(nats_url, LEASE_ACQUIRE, request, service="gateway", namespace=ns, timeout_s=5)
    assert isinstance(envelope.reply, LeaseGrant), envelope.reply
    return envelope.reply


def test_a_plain_pool_is_sealed_when_the_key_is_set(
    nats_server: NatsServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    ns = "rest" + uuid.uuid4().hex[:6]
    port = free_port()
    health = f"http://127.0.0.1:{port}/readyz"
    plain_env = _env(
        nats_server, redis_server, ns, BROKER_PORT=str(port), KIRO_ALLOW_PLAINTEXT_SECRETS="true"
    )
    plain = PythonService("broker-plain", "token_broker", tmp_path, plain_env, health)
    plain.start()
    plain.stop()
    before = _record(redis_server, ns)
    assert before["refresh_token"] == REFRESH, "explicitly accepted plain text is plain"

    sealed_env = {**_env(nats_server, redis_server, ns, BROKER_PORT=str(port)), "KIRO_SECRET_KEY": SECRET_KEY}
    sealed = PythonService("broker-sealed", "token_broker", tmp_path, sealed_env, health)
    sealed.start()
    try:
        after = _record(redis_server, ns)
        dump = orjson.dumps(after).decode()
        assert REFRESH not in dump and ACCESS not in dump, "HGETALL shows a plain token"
        assert after["refresh_token"].startswith("enc:v1:")
        assert after["access_token"].startswith("enc:v1:")
        grant = asyncio.run(_lease(nats_server.url, ns))
        assert grant.access_token == ACCESS  # the sealed record still serves
    finally:
        sealed.stop()
