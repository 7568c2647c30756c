"""deploy/nats/nats.conf and deploy/redis/redis.conf, loaded by the real servers.

nats-server checks its configuration with `-t`; redis-server has no such mode, so it is started
with the file (its `dir` pointed at a temporary folder, no TCP port, a unix socket only) and
asked what it runs with.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.deploy._support import DEPLOY, run, tool

NATS_PASSWORDS = {f"NATS_{s}_PASSWORD": f"pw-{s}" for s in ("GATEWAY", "BROKER", "DASHBOARD", "OAUTH")}


def test_nats_config_is_valid(tool_env: dict[str, str]) -> None:
    nats = tool("nats-server")
    conf = str(DEPLOY / "nats" / "nats.conf")
    ok = run([nats, "-t", "-c", conf], env={**tool_env, **NATS_PASSWORDS})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # The passwords come from the environment: without one the server refuses to start.
    partial = {k: v for k, v in NATS_PASSWORDS.items() if k != "NATS_OAUTH_PASSWORD"}
    missing = run([nats, "-t", "-c", conf], env={**tool_env, **partial})
    assert missing.returncode != 0
    assert "NATS_OAUTH_PASSWORD" in missing.stdout + missing.stderr


@pytest.fixture
def redis_with_deploy_config(tmp_path: Path) -> Iterator[redis.Redis]:
    text = (DEPLOY / "redis" / "redis.conf").read_text()
    assert "\ndir /data\n" in text
    conf = tmp_path / "redis.conf"
    conf.write_text(text.replace("\ndir /data\n", f"\ndir {tmp_path}\n"))
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen(
        [tool("redis-server"), str(conf), "--port", "0", "--unixsocket", str(sock)]
        + ["--user", "tester", "on", ">pw", "~*", "+@all"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(unix_socket_path=str(sock), username="tester", password="pw", decode_responses=True)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"redis-server refused deploy/redis/redis.conf:\n{out}")
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
        yield client
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def test_redis_runs_with_durable_settings(redis_with_deploy_config: redis.Redis, tmp_path: Path) -> None:
    r = redis_with_deploy_config
    config = r.config_get("*")
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "always"
    assert config["maxmemory-policy"] == "noeviction"
    assert config["dir"] == str(tmp_path)
    r.set("k", "v")
    assert (tmp_path / "appendonlydir").is_dir(), "the append-only file lives under dir"
