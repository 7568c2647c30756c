"""`make demo` / `make run` as a user runs them: the runner starts the whole stack, the printed
curl line works, and Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kiro_testing import free_port

pytestmark = pytest.mark.integration


def _wait_for(proc: subprocess.Popen[str], pattern: str, timeout: float = 90.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"runner never printed {pattern!r}; output:\n{''.join(seen)}")


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def test_demo_serves_the_printed_curl_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port)}
    env.pop("KIRO_CLIENT_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiro_testing.runner", "demo"],
        cwd=tmp_path,  # its .run/ data lands in the test's folder
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        key = _wait_for(proc, r"x-api-key: ([^']+)'").group(1)
        children = _children(proc.pid)
        assert children, "the runner started no processes"
        body = {"model": "claude-sonnet-4-5", "max_tokens": 64,
                "messages": [{"role": "user", "content": "Hello"}]}
        url = f"http://127.0.0.1:{port}"
        resp = httpx.post(f"{url}/v1/messages", json=body, headers={"x-api-key": key}, timeout=30)
        assert resp.status_code == 200, resp.text
        assert resp.json()["content"][0]["text"].startswith("Echo: Hello")
        assert httpx.get(f"{url}/v1/models", headers={"x-api-key": key}).status_code == 200
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(Path(f"/proc/{pid}").exists() for pid in children), "a started process outlived Ctrl-C"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
