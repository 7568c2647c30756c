"""The kit's pytest plugin (loaded with `-p kiro_testing.pytest_plugin`): real servers for tests.

- `log_dir`: the session's folder for process logs.
- `nats_server`, `redis_server`: one nats-server and one redis-server per session, on free
  loopback ports (never the machine's 4222 / 6379); every test scopes itself with its own bus
  namespace and Redis prefix. `own_nats` / `own_redis`: a test's own, to break on purpose.
- `kiro_sim`: one simulator process per session; `sim`: one per test module (its counters and
  scripts are the module's own).
- `stacks`: start whole stacks (`kiro_testing.stack.Stack`) on the session's servers; every
  stack a test started is stopped after it (`module_stacks`: after the module).
- `clean_environ`: no proxy or service variable from the developer's shell reaches a test
  (conftests make it autouse).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kiro_testing.processes import NatsServer, RedisServer
from kiro_testing.sim import Sim, SimControl, credential

if TYPE_CHECKING:  # imported where used: loading the plugin must not import the product's
    # packages, or coverage (which starts after the plugins) would not measure them
    from kiro_testing.stack import Stack, StackConfig

SERVICE_PREFIXES = (
    "KIRO_",
    "SESSION_POOL_",
    "OAUTH_",
    "BROKER_",
    "DASHBOARD_",
    "NATS_URL",
    "REDIS_URL",
    "PROXY_POOL",
    "LOG_LEVEL",
)
PROXIES = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper() in PROXIES or key.upper().startswith(SERVICE_PREFIXES):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def namespace() -> str:
    """A fresh bus namespace and Redis prefix for one test: tests that share the servers never meet."""
    return "t" + secrets.token_hex(4)


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def nats_server(log_dir: Path) -> Iterator[NatsServer]:
    server = NatsServer(log_dir / "shared-nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(log_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(log_dir / "shared-redis", data_dir=tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis-logs", data_dir=tmp_path / "redis-data")
    server.start()
    yield server
    server.stop()


def _started_sim(folder: Path) -> Sim:
    sim = Sim(folder, {"KIRO_SIM_DEVICE_INTERVAL": "1"})
    sim.start()
    return sim


@pytest.fixture(scope="session")
def kiro_sim(log_dir: Path) -> Iterator[Sim]:
    sim = _started_sim(log_dir / "session-sim")
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def sim(log_dir: Path, request: pytest.FixtureRequest) -> Iterator[Sim]:
    sim = _started_sim(log_dir / request.module.__name__.rpartition(".")[2])
    yield sim
    sim.stop()


class Stacks:
    """Starts stacks on the session's servers and stops them all when its scope ends."""

    def __init__(self, log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> None:
        self.log_dir = log_dir
        self.nats_url = nats_server.url
        self.redis_url = redis_server.url
        self.started: list[Stack] = []

    def __call__(
        self,
        config: StackConfig | None = None,
        *,
        sim: SimControl | None = None,
        redis_url: str | None = None,
    ) -> Stack:
        """A started stack (`redis_url`: another Redis than the session's)."""
        from kiro_testing.stack import Stack

        stack = Stack(
            self.log_dir, config, nats_url=self.nats_url, redis_url=redis_url or self.redis_url, sim=sim
        )
        self.started.append(stack)
        return stack.start()

    def on(
        self,
        sim: SimControl,
        accounts: Sequence[Mapping[str, Any]],
        *,
        brokers: int = 1,
        gateways: int = 1,
        redis_url: str | None = None,
        **env: str,
    ) -> Stack:
        """A started stack serving these simulator accounts; `env` for every service."""
        from kiro_testing.stack import StackConfig

        credentials = [credential(a) for a in accounts]
        config = StackConfig(brokers=brokers, gateways=gateways, credentials=credentials, env=env)
        return self(config, sim=sim, redis_url=redis_url)

    def stop(self) -> None:
        for stack in reversed(self.started):
            stack.stop()
        self.started.clear()


@pytest.fixture
def stacks(log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Stacks]:
    started = Stacks(log_dir, nats_server, redis_server)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def module_stacks(log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Stacks]:
    """`stacks` for module-scoped fixtures (stopped after the module)."""
    started = Stacks(log_dir, nats_server, redis_server)
    yield started
    started.stop()
