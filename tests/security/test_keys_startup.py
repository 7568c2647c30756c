"""Finding 7: weak key defaults. Short keys and documentation placeholders were accepted, and the
admin key was the client key unless `KIRO_ADMIN_TOKEN` was set.

Each service is started as a process, as an operator starts it: a refused key stops it at once
with a message naming the variable; without `KIRO_ADMIN_TOKEN` the dashboard generates an admin
key, prints it once, keeps it sealed in Redis (the next start and every replica use the same),
and the client key opens nothing there.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from kiro_testing import NatsServer, PythonService, RedisServer, free_port
from kiro_testing.stack import CLIENT_TOKEN, SECRET_KEY

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ENV_EXAMPLE_KEY = re.search(r"(?m)^KIRO_CLIENT_TOKEN=(.+)$", (REPO / ".env.example").read_text()).group(1)  # type: ignore[union-attr]
WEAK = [
    "x",
    "0123456789abcdefghi",
    ENV_EXAMPLE_KEY,
    "your-secure-random-password",
    "your-client-token",
    "your-token",
]


def _run(module: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("KIRO_", "NATS_", "REDIS_", "DASHBOARD_"))
    }
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("value", WEAK)
def test_the_gateway_refuses_a_weak_client_key(value: str, tmp_path: Path) -> None:
    proc = _run("gateway", {"KIRO_CLIENT_TOKEN": value, "PORT": str(free_port())}, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "KIRO_CLIENT_TOKEN is refused" in proc.stderr
    if len(value) > 3:
        assert value not in proc.stderr, "the refused key is echoed"


@pytest.mark.parametrize(
    ("module", "variable", "value"),
    [
        ("dashboard", "KIRO_ADMIN_TOKEN", "short-admin-key"),
        ("dashboard", "KIRO_CLIENT_TOKEN", "change-me-admin-token-please"),
        ("kiro_oauth", "KIRO_ADMIN_TOKEN", "change-me-admin-token-please"),
        ("kiro_oauth", "KIRO_CLIENT_TOKEN", "short-client-key"),
    ],
)
def test_admin_services_refuse_weak_keys(module: str, variable: str, value: str, tmp_path: Path) -> None:
    proc = _run(module, {variable: value}, tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{variable} is refused" in proc.stdout + proc.stderr


@pytest.mark.parametrize("module", ["dashboard", "kiro_oauth"])
def test_the_client_key_cannot_be_the_admin_key(module: str, tmp_path: Path) -> None:
    proc = _run(module, {"KIRO_ADMIN_TOKEN": CLIENT_TOKEN, "KIRO_CLIENT_TOKEN": CLIENT_TOKEN}, tmp_path)
    assert proc.returncode == 2
    assert "KIRO_ADMIN_TOKEN equals KIRO_CLIENT_TOKEN" in proc.stdout + proc.stderr


@pytest.fixture
def dashboard_env(nats_server: NatsServer, redis_server: RedisServer) -> Iterator[dict[str, str]]:
    prefix = "keys" + uuid.uuid4().hex[:8]
    yield {
        "NATS_URL": nats_server.url,
        "REDIS_URL": redis_server.url,
        "KIRO_REDIS_PREFIX": prefix,
        "KIRO_BUS_NAMESPACE": prefix,
        "KIRO_CLIENT_TOKEN": CLIENT_TOKEN,
        "KIRO_SECRET_KEY": SECRET_KEY,
        "DASHBOARD_HOST": "127.0.0.1",
    }


def _dashboard(env: dict[str, str], log_dir: Path, name: str) -> tuple[PythonService, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    service = PythonService(
        name, "dashboard", log_dir, {**env, "DASHBOARD_PORT": str(port)}, f"{url}/healthz"
    )
    service.start()
    return service, url


def test_an_unset_admin_key_is_generated_printed_once_and_kept_sealed(
    dashboard_env: dict[str, str], redis_server: RedisServer, tmp_path: Path
) -> None:
    first, url = _dashboard(dashboard_env, tmp_path, "dashboard-1")
    try:
        printed = re.findall(r"generated the admin key \([^)]*\): (\S+)", first.read_log())
        assert len(printed) == 1, first.read_log()
        admin_key = printed[0]
        assert len(admin_key) >= 20 and admin_key != CLIENT_TOKEN
        traffic = f"{url}/api/traffic"
        assert httpx.get(traffic, headers={"authorization": f"Bearer {admin_key}"}).status_code == 200
        assert httpx.get(traffic, headers={"authorization": f"Bearer {CLIENT_TOKEN}"}).status_code == 401
    finally:
        first.stop()
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        stored = client.get(f"{dashboard_env['KIRO_REDIS_PREFIX']}:admin:key")
    finally:
        client.close()
    assert isinstance(stored, str) and stored.startswith("enc:v1:") and admin_key not in stored
    # The next start (or another replica) uses the same key and does not print it again.
    second, url = _dashboard(dashboard_env, tmp_path, "dashboard-2")
    try:
        assert admin_key not in second.read_log()
        assert (
            httpx.get(f"{url}/api/traffic", headers={"authorization": f"Bearer {admin_key}"}).status_code
            == 200
        )
    finally:
        second.stop()


def test_a_different_secret_key_cannot_read_the_stored_admin_key(
    dashboard_env: dict[str, str], tmp_path: Path
) -> None:
    first, _ = _dashboard(dashboard_env, tmp_path, "dashboard-a")
    first.stop()
    other = {
        **dashboard_env,
        "KIRO_SECRET_KEY": base64.b64encode(b"another-key-of-32-bytes-exactly!").decode(),
    }
    proc = _run("dashboard", {**other, "DASHBOARD_PORT": str(free_port())}, tmp_path)
    assert proc.returncode == 1
    assert "does not decrypt with KIRO_SECRET_KEY" in proc.stdout + proc.stderr
