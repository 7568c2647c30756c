"""The Kiro simulator, as a process and through its control API (`/_sim/...`), over HTTP only.

The kit never imports the simulator: `Sim` runs `python -m kiro_sim`, and what the kit
needs to know (the `--seed-demo` account's refresh token, the accounts it made) it asks over
HTTP. `SimControl` (blocking) and `AsyncSimControl` (asyncio; also over an in-process ASGI
transport, for the simulator's own tests) send the same calls, built once by `SimCall`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kiro_testing.processes import PythonService, free_port

DEMO_ACCOUNT_ID = "demo"  # the account `--seed-demo` creates


@dataclass(frozen=True)
class SimCall:
    """One control call: what to send and the status that means it worked."""

    method: str
    path: str
    body: Any = None
    params: Mapping[str, str] | None = None
    expect: int = 200

    @staticmethod
    def add_account(spec: Mapping[str, Any]) -> SimCall:
        """A new account (the simulator makes up what `spec` leaves out: id, tokens, ARN)."""
        return SimCall("POST", "/_sim/accounts", dict(spec), expect=201)

    @staticmethod
    def account(account_id: str) -> SimCall:
        return SimCall("GET", f"/_sim/accounts/{account_id}")

    @staticmethod
    def accounts() -> SimCall:
        return SimCall("GET", "/_sim/accounts")

    @staticmethod
    def patch_account(account_id: str, patch: Mapping[str, Any]) -> SimCall:
        return SimCall("PATCH", f"/_sim/accounts/{account_id}", dict(patch))

    @staticmethod
    def access_token(account_id: str) -> SimCall:
        return SimCall("POST", f"/_sim/accounts/{account_id}/access-tokens", {}, expect=201)

    @staticmethod
    def expire_access_tokens(account_id: str) -> SimCall:
        return SimCall("POST", f"/_sim/accounts/{account_id}/expire-access-tokens", {})

    @staticmethod
    def revoke(account_id: str) -> SimCall:
        return SimCall("POST", f"/_sim/accounts/{account_id}/revoke", {})

    @staticmethod
    def last_request(account_id: str) -> SimCall:
        return SimCall("GET", f"/_sim/accounts/{account_id}/last-request")

    @staticmethod
    def script(body: Mapping[str, Any]) -> SimCall:
        return SimCall("POST", "/_sim/scripts", dict(body))

    @staticmethod
    def clear_scripts() -> SimCall:
        return SimCall("DELETE", "/_sim/scripts")

    @staticmethod
    def throttle(body: Mapping[str, Any]) -> SimCall:
        return SimCall("POST", "/_sim/throttle", dict(body))

    @staticmethod
    def rules(changes: Mapping[str, bool]) -> SimCall:
        return SimCall("PATCH", "/_sim/rules", dict(changes))

    @staticmethod
    def release_hold(name: str) -> SimCall:
        return SimCall("POST", f"/_sim/holds/{name}/release")

    @staticmethod
    def stats(bodies: bool = True) -> SimCall:
        return SimCall("GET", "/_sim/stats", params=None if bodies else {"bodies": "false"})

    @staticmethod
    def reset_stats() -> SimCall:
        return SimCall("POST", "/_sim/stats/reset", {})


class SimError(AssertionError):
    """The simulator answered a control call with an unexpected status."""


def _result(call: SimCall, response: httpx.Response) -> Any:
    if response.status_code != call.expect and not (call.expect == 200 and response.status_code < 300):
        raise SimError(f"simulator {call.method} {call.path}: {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


def fault_script(account_id: str, surface: str, script: Mapping[str, Any], times: int = 1) -> dict[str, Any]:
    """A `/_sim/scripts` body: the next `times` calls of `surface` by the account fail as `script`."""
    return {
        "account_id": account_id,
        "mode": "fault",
        "surface": surface,
        "script": dict(script),
        "times": times,
    }


def account_list(data: Any) -> list[dict[str, Any]]:
    items = data.get("accounts", data) if isinstance(data, dict) else data
    return [dict(a) for a in items]


def account_stats(stats: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    """One account's counters from a `/_sim/stats` answer ({} when it made no call)."""
    return dict(stats["accounts"].get(account_id) or {})


def credential(account: Mapping[str, Any], *, profile: bool = True, **extra: Any) -> dict[str, Any]:
    """The broker's `KIRO_AUTH_TOKEN` entry for a simulator account (no access token: the broker
    refreshes first); with `profile`, the account's profile ARN (else the broker looks it up)."""
    entry: dict[str, Any] = {
        "id": account["id"],
        "auth": "IdC" if str(account.get("auth", "")).lower() == "idc" else "Social",
        "refreshToken": account["refresh_token"],
    }
    if account.get("client_id"):
        entry["clientId"] = account["client_id"]
        entry["clientSecret"] = account["client_secret"]
    if profile and account.get("profile_arn"):
        entry["profileArn"] = account["profile_arn"]
    entry.update(extra)
    return entry


class SimControl:
    """The control API, blocking (loopback only)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=timeout, trust_env=False)

    def close(self) -> None:
        self.http.close()

    def call(self, call: SimCall) -> Any:
        response = self.http.request(call.method, call.path, json=call.body, params=call.params)
        return _result(call, response)

    def add_account(self, **spec: Any) -> dict[str, Any]:
        return dict(self.call(SimCall.add_account(spec)))

    def account(self, account_id: str) -> dict[str, Any]:
        return dict(self.call(SimCall.account(account_id)))

    def accounts(self) -> list[dict[str, Any]]:
        return account_list(self.call(SimCall.accounts()))

    def patch_account(self, account_id: str, **patch: Any) -> dict[str, Any]:
        return dict(self.call(SimCall.patch_account(account_id, patch)))

    def access_token(self, account_id: str) -> str:
        return str(self.call(SimCall.access_token(account_id))["access_token"])

    def expire_access_tokens(self, account_id: str) -> Any:
        return self.call(SimCall.expire_access_tokens(account_id))

    def revoke(self, account_id: str) -> Any:
        return self.call(SimCall.revoke(account_id))

    def last_request(self, account_id: str) -> dict[str, Any]:
        return dict(self.call(SimCall.last_request(account_id)))

    def script(self, **body: Any) -> Any:
        return self.call(SimCall.script(body))

    def clear_scripts(self) -> Any:
        return self.call(SimCall.clear_scripts())

    def throttle(self, **body: Any) -> dict[str, Any]:
        return dict(self.call(SimCall.throttle(body)))

    def release_hold(self, name: str) -> Any:
        return self.call(SimCall.release_hold(name))

    def stats(self, bodies: bool = True) -> dict[str, Any]:
        return dict(self.call(SimCall.stats(bodies)))

    def reset_stats(self) -> Any:
        return self.call(SimCall.reset_stats())

    # -- views of the stats
    def account_stats(self, account_id: str) -> dict[str, Any]:
        """The account's counters and its `last_request` (with the body)."""
        return account_stats(self.stats(), account_id)

    def token_stats(self, account_id: str) -> list[dict[str, Any]]:
        tokens = self.stats(bodies=False)["access_tokens"]
        return [dict(t) for t in tokens.values() if t["account_id"] == account_id]

    def peak_streams_per_token(self, account_id: str) -> int:
        return max((int(t["peak_open_streams"]) for t in self.token_stats(account_id)), default=0)

    def counter(self, account_id: str, name: str) -> int:
        """One of the account's counters (`refresh_calls`, `usage_calls`, `chat_requests`, ...)."""
        return int(self.account_stats(account_id).get(name, 0))

    def chat_requests(self, account_id: str) -> int:
        return self.counter(account_id, "chat_requests")


class AsyncSimControl:
    """The control API for asyncio tests; `http` may be any `httpx.AsyncClient` (a real
    connection, or an ASGI transport onto an in-process simulator)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    @classmethod
    def connect(cls, url: str, timeout: float = 10.0) -> AsyncSimControl:
        return cls(httpx.AsyncClient(base_url=url, timeout=timeout, trust_env=False))

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(self, call: SimCall) -> Any:
        response = await self.http.request(call.method, call.path, json=call.body, params=call.params)
        return _result(call, response)

    async def add_account(self, **spec: Any) -> dict[str, Any]:
        return dict(await self.call(SimCall.add_account(spec)))

    async def account(self, account_id: str) -> dict[str, Any]:
        return dict(await self.call(SimCall.account(account_id)))

    async def access_token(self, account_id: str) -> str:
        return str((await self.call(SimCall.access_token(account_id)))["access_token"])

    async def revoke(self, account_id: str) -> Any:
        return await self.call(SimCall.revoke(account_id))

    async def script(self, **body: Any) -> dict[str, Any]:
        return dict(await self.call(SimCall.script(body)))

    async def rules(self, **changes: bool) -> Any:
        return await self.call(SimCall.rules(changes))

    async def stats(self, bodies: bool = True) -> dict[str, Any]:
        return dict(await self.call(SimCall.stats(bodies)))

    async def account_stats(self, account_id: str) -> dict[str, Any]:
        return account_stats(await self.stats(bodies=False), account_id)

    async def counter(self, account_id: str, name: str) -> int:
        """One of the account's counters (`refresh_calls`, `usage_calls`, `chat_requests`, ...)."""
        return int((await self.account_stats(account_id)).get(name, 0))

    async def fault(self, account_id: str, surface: str, script: Mapping[str, Any], times: int = 1) -> Any:
        return await self.script(**fault_script(account_id, surface, script, times))


class Sim(SimControl):
    """`python -m kiro_sim --port P` on a free port (ready when `/healthz` answers) and its
    control API, started and stopped together."""

    def __init__(
        self,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        port: int | None = None,
        name: str = "kiro-sim",
    ) -> None:
        self.port = port or free_port()
        super().__init__(f"http://127.0.0.1:{self.port}")
        self.process = PythonService(
            name,
            "kiro_sim",
            log_dir,
            {"KIRO_SIM_LOG_LEVEL": "WARNING", **dict(env or {})},
            f"{self.url}/healthz",
            args=["--port", str(self.port), "--log-level", "WARNING", *args],
        )

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self.close()
        self.process.stop()

    def demo_refresh_token(self) -> str:
        """The refresh token of the `--seed-demo` account, as the simulator tells it."""
        return str(self.account(DEMO_ACCOUNT_ID)["refresh_token"])
