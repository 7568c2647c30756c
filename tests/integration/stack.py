"""The real stack for end-to-end tests: the Kiro simulator, token broker(s) and gateway(s) as
processes on free ports, over the session's real nats-server and redis-server.

`Sim` drives the simulator's control API (accounts, scripts, stats). `Pool` is one deployment:
its own bus namespace and Redis prefix (so tests never see each other's credentials), N brokers
and M gateways, each a `python -m ...` process that can be killed, stopped and started again.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from kiro_service.bus import call_once
from kiro_testing import PythonService, free_port
from kiroproto.bus import POOL_STATUS, PoolStatus, PoolStatusRequest

CLIENT_TOKEN = "e2e-client-token-" + "Jq4Vn8Rx2Tb6"
# KIRO_SECRET_KEY of the test brokers (base64 of 32 bytes): secrets are sealed in Redis as in production.
SECRET_KEY = base64.b64encode(b"e2e-stack-secret-key-32-bytes!!!").decode()
DEADLINE_S = 5.0


def poll(
    check: Callable[[], Any],
    *,
    timeout: float = DEADLINE_S,
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """Call `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached within {timeout}s (last: {value!r})")
        time.sleep(interval)


async def apoll(
    check: Callable[[], Any],
    *,
    within: float = DEADLINE_S,
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """`poll` for async checks (a check may return an awaitable)."""
    timeout = within
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached within {timeout}s (last: {value!r})")
        await asyncio.sleep(interval)


class Sim:
    """The simulator process and its control API."""

    def __init__(self, log_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = PythonService(
            "kiro-sim",
            "kiro_sim",
            log_dir,
            dict(env or {}),
            f"{self.url}/healthz",
            args=["--port", str(self.port), "--log-level", "WARNING"],
        )
        self._http = httpx.Client(base_url=self.url, timeout=10.0)

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self._http.close()
        self.process.stop()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, path, json=body)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def add_account(self, **spec: Any) -> dict[str, Any]:
        spec.setdefault("refresh_token", "aorE2E" + uuid.uuid4().hex * 3)
        return dict(self._call("POST", "/_sim/accounts", spec))

    def patch_account(self, account_id: str, **patch: Any) -> dict[str, Any]:
        return dict(self._call("PATCH", f"/_sim/accounts/{account_id}", patch))

    def account(self, account_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/_sim/accounts/{account_id}"))

    def script(self, **body: Any) -> Any:
        return self._call("POST", "/_sim/scripts", body)

    def expire_access_tokens(self, account_id: str) -> Any:
        return self._call("POST", f"/_sim/accounts/{account_id}/expire-access-tokens", {})

    def revoke(self, account_id: str) -> Any:
        return self._call("POST", f"/_sim/accounts/{account_id}/revoke", {})

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sim/stats"))

    def account_stats(self, account_id: str) -> dict[str, Any]:
        return dict(self.stats()["accounts"].get(account_id) or {})

    def token_stats(self, account_id: str) -> list[dict[str, Any]]:
        tokens = self.stats()["access_tokens"]
        return [t for t in tokens.values() if t["account_id"] == account_id]

    def peak_streams_per_token(self, account_id: str) -> int:
        return max((t["peak_open_streams"] for t in self.token_stats(account_id)), default=0)


def credential(account: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The KIRO_AUTH_TOKEN entry for a simulator account."""
    entry: dict[str, Any] = {"id": account["id"], "auth": "Social", "refreshToken": account["refresh_token"]}
    if account.get("profile_arn"):
        entry["profileArn"] = account["profile_arn"]
    entry.update(extra)
    return entry


class Pool:
    """One deployment (namespace + Redis prefix) of brokers and gateways."""

    def __init__(
        self,
        log_dir: Path,
        *,
        nats_url: str,
        redis_url: str,
        sim_url: str,
        credentials: Sequence[Mapping[str, Any]],
        env: Mapping[str, str] | None = None,
        gateway_env: Mapping[str, str] | None = None,
    ) -> None:
        tag = uuid.uuid4().hex[:8]
        self.log_dir = log_dir
        self.namespace = f"e2e{tag}"
        self.prefix = f"e2e{tag}"
        self.nats_url = nats_url
        self.redis_url = redis_url
        self.sim_url = sim_url
        self.credentials_json = orjson.dumps(list(credentials)).decode()
        self.common: dict[str, str] = {
            "NATS_URL": nats_url,
            "KIRO_BUS_NAMESPACE": self.namespace,
            "KIRO_API_BASE_URL": sim_url,
            "KIRO_AUTH_BASE_URL": sim_url,
            "KIRO_OIDC_BASE_URL": sim_url,
            "SESSION_POOL_MAX_SIZE": "3",
            "SESSION_POOL_MAX_RETRIES": "5",
            "SESSION_POOL_COOLDOWN": "30s",
            "SESSION_POOL_WAIT": "10s",
            "LOG_LEVEL": "INFO",
            **dict(env or {}),
        }
        self.gateway_extra = dict(gateway_env or {})
        self.brokers: list[PythonService] = []
        self.gateways: list[PythonService] = []

    # ------------------------------------------------------------ processes

    def add_broker(self) -> PythonService:
        port = free_port()
        env = {
            **self.common,
            "REDIS_URL": self.redis_url,
            "KIRO_REDIS_PREFIX": self.prefix,
            "KIRO_AUTH_TOKEN": self.credentials_json,
            "KIRO_SECRET_KEY": SECRET_KEY,
            "BROKER_PORT": str(port),
        }
        broker = PythonService(
            f"broker-{self.namespace}-{len(self.brokers)}",
            "token_broker",
            self.log_dir,
            env,
            f"http://127.0.0.1:{port}/readyz",
        )
        broker.start()
        self.brokers.append(broker)
        return broker

    def add_gateway(self) -> PythonService:
        port = free_port()
        env = {
            **self.common,
            "KIRO_CLIENT_TOKEN": CLIENT_TOKEN,
            "PORT": str(port),
            "GATEWAY_HOST": "127.0.0.1",
            **self.gateway_extra,
        }
        gateway = PythonService(
            f"gateway-{self.namespace}-{len(self.gateways)}",
            "gateway",
            self.log_dir,
            env,
            f"http://127.0.0.1:{port}/readyz",
        )
        gateway.start()
        gateway.port = port  # type: ignore[attr-defined]
        self.gateways.append(gateway)
        return gateway

    def gateway_url(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.gateways[index].port}"  # type: ignore[attr-defined]

    def stop(self) -> None:
        for process in [*self.gateways, *self.brokers]:
            process.stop()

    # ------------------------------------------------------------ broker state over NATS

    async def pool_status(self) -> PoolStatus:
        return await call_once(
            self.nats_url,
            POOL_STATUS,
            PoolStatusRequest(),
            service="dashboard",
            namespace=self.namespace,
            timeout_s=2.0,
        )

    def pool_status_sync(self) -> PoolStatus:
        return asyncio.run(self.pool_status())


@contextmanager
def running_pool(log_dir: Path, *, brokers: int = 1, gateways: int = 1, **kwargs: Any) -> Iterator[Pool]:
    pool = Pool(log_dir, **kwargs)
    try:
        for _ in range(brokers):
            pool.add_broker()
        for _ in range(gateways):
            pool.add_gateway()
        yield pool
    finally:
        pool.stop()
