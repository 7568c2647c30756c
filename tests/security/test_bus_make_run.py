"""Findings 2 and 7 under `make demo` (the runner, as a user starts it).

- The data folder is private (0700, files 0600: keys, server configs, Redis' append-only file).
- NATS and Redis refuse clients without credentials.
- The admin key is generated, printed once, kept (0600) and is not the client key.
- A SIGKILLed broker is started again by the runner (the stack is not torn down) and serves.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from kiro_testing import free_port
from tests.security.test_bus_permissions import raw_connect

pytestmark = pytest.mark.integration

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}]}


@dataclass
class Runner:
    proc: subprocess.Popen[str]
    cwd: Path
    port: int
    lines: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.cwd / ".run" / "demo"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"runner never printed {pattern!r}; output:\n{self.output()}")

    def child(self, module: str) -> int:
        out = subprocess.run(
            ["ps", "-o", "pid=,args=", "--ppid", str(self.proc.pid)],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in out.stdout.splitlines():
            pid, _, args = line.strip().partition(" ")
            if f"-m {module}" in args:
                return int(pid)
        raise AssertionError(f"no {module} process under the runner:\n{out.stdout}")


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    cwd = tmp_path_factory.mktemp("make-demo")
    # What an older runner left behind: a readable data folder and log.
    old_logs = cwd / ".run" / "demo" / "logs"
    old_logs.mkdir(parents=True)
    (old_logs / "old.log").write_text("from an older run\n")
    (old_logs / "old.log").chmod(0o644)
    (cwd / ".run" / "demo").chmod(0o755)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIRO_", "NATS_", "REDIS_"))}
    env["PORT"] = str(port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiro_testing.runner", "demo"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    r = Runner(proc, cwd, port)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            r.lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        r.wait_for(r"x-api-key: ([^']+)'")
        yield r
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        reader.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_is_private(runner: Runner) -> None:
    data = runner.data
    assert _mode(data) == 0o700
    for name in ("secret-key", "admin-key", "nats.conf", "redis.conf", "logs/old.log", "logs/gateway.log"):
        assert _mode(data / name) == 0o600, name
    assert _mode(data / "logs") == 0o700
    files = [p for p in (data / "redis").rglob("*") if p.is_file()]
    assert any("appendonly" in p.name for p in files), files
    for path in [data / "redis", *(p for p in (data / "redis").rglob("*"))]:
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_only_the_gateway_listens_beyond_loopback(runner: Runner) -> None:
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=False).stdout
    for module in ("token_broker", "dashboard", "kiro_oauth"):
        pid = runner.child(module)
        listening = [line.split()[3] for line in out.splitlines() if f"pid={pid}," in line]
        assert listening and all(a.startswith("127.0.0.1:") for a in listening), (module, listening)


def test_nats_and_redis_refuse_anonymous_clients(runner: Runner) -> None:
    nats_conf = json.loads((runner.data / "nats.conf").read_text())
    answer = asyncio.run(raw_connect(f"nats://127.0.0.1:{nats_conf['port']}", None))
    assert "authorization violation" in answer.lower(), answer
    redis_port = int(re.search(r"(?m)^port (\d+)$", (runner.data / "redis.conf").read_text()).group(1))  # type: ignore[union-attr]
    with socket.create_connection(("127.0.0.1", redis_port), timeout=5) as s:
        s.sendall(b"HGETALL kiro2api:broker:cred:demo\r\n")
        assert s.recv(256).startswith(b"-NOAUTH"), "Redis answered an unauthenticated client"


def test_the_admin_key_is_generated_once_kept_and_not_the_client_key(runner: Runner) -> None:
    client_key = runner.wait_for(r"x-api-key: ([^']+)'").group(1)
    admin_key = (runner.data / "admin-key").read_text().strip()
    assert len(admin_key) >= 20 and admin_key != client_key
    assert runner.output().count(admin_key) == 1, "the admin key is printed exactly once"
    secret_key = (runner.data / "secret-key").read_text().strip()
    assert secret_key not in runner.output()
    tokens = f"{runner.url}/api/tokens"
    assert httpx.get(tokens, headers={"authorization": f"Bearer {admin_key}"}, timeout=10).status_code == 200
    assert httpx.get(tokens, headers={"authorization": f"Bearer {client_key}"}, timeout=10).status_code == 401


def test_a_killed_broker_is_started_again_and_serves(runner: Runner) -> None:
    key = runner.wait_for(r"x-api-key: ([^']+)'").group(1)
    headers = {"x-api-key": key}
    assert httpx.post(f"{runner.url}/v1/messages", json=BODY, headers=headers, timeout=30).status_code == 200
    broker = runner.child("token_broker")
    gateway = runner.child("gateway")
    # A stream in flight (about 6 s of events) through the gateway while the broker dies.
    slow = '<<sim:{"text": "' + " ".join(["word"] * 24) + '", "fragment_max": 8, "event_delay": 0.5}>>'
    stream_body = {**BODY, "stream": True, "messages": [{"role": "user", "content": "Hi " + slow}]}
    with httpx.stream(
        "POST", f"{runner.url}/v1/messages", json=stream_body, headers=headers, timeout=60
    ) as stream:
        assert stream.status_code == 200
        chunks = stream.iter_text()
        seen = next(chunks)
        os.kill(broker, signal.SIGKILL)
        seen += "".join(chunks)
    assert "event: message_stop" in seen, "the stream through the gateway was cut"
    runner.wait_for(r"token-broker exited", timeout=15)
    runner.wait_for(r"token-broker started again", timeout=60)
    assert runner.proc.poll() is None, "the runner stopped the stack"
    assert runner.child("token_broker") != broker
    assert runner.child("gateway") == gateway, "the gateway (and its streams) kept running"
    deadline = time.monotonic() + 30
    while True:
        resp = httpx.post(f"{runner.url}/v1/messages", json=BODY, headers=headers, timeout=30)
        if resp.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert resp.status_code == 200, resp.text
    assert resp.json()["content"][0]["text"].startswith("Echo: Hello")
