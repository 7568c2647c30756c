"""The faults of a chaos run, in turn, while the load runs: each is recorded in the ledger
(`Fault`: when it started, was restored, and when the first success after it ended)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from kiro_testing.chaos.deployment import ADMIN_KEY
from kiro_testing.chaos.ledger import Fault, Report, RequestRecord
from kiro_testing.chaos.load import LoadGenerator, gauge
from kiro_testing.sim import SimCall, SimControl
from kiro_testing.stack import Stack
from kiroproto.bus import CREDENTIAL_ACTION, CredentialAction


class Faults:
    """The fault schedule against one stack; every step records its `Fault` in `report`."""

    def __init__(
        self,
        stack: Stack,
        load: LoadGenerator,
        report: Report,
        *,
        hold_s: float,
        outage_s: float,
        recovery_deadline_s: float,
    ) -> None:
        self.stack = stack
        self.sim: SimControl = stack.sim
        self.load = load
        self.report = report
        self.hold_s = hold_s
        self.outage_s = outage_s
        self.recovery_deadline_s = recovery_deadline_s

    def now(self) -> float:
        return self.load.now()

    def schedule(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        return [
            ("SIGTERM gateway 0 (rolling restart)", self._gateway_term),
            ("SIGKILL broker 1", self._broker_kill),
            ("SIGKILL gateway 1", self._gateway_kill),
            ("NATS restart", self._nats_restart),
            ("Redis restart", self._redis_restart),
            (
                "upstream 429s",
                lambda: self._upstream("upstream 429s", {"error": "user_rate", "retry_after": 2}, [0, 1]),
            ),
            ("upstream 500s", lambda: self._upstream("upstream 500s", {"error": "internal"}, [2, 3])),
            (
                "upstream torn streams",
                lambda: self._upstream(
                    "upstream torn streams", {"cut_after": 0, "cut_partial_bytes": 9}, [4, 0]
                ),
            ),
            (
                "upstream slow first bytes",
                lambda: self._upstream("upstream slow first bytes", {"first_byte_delay": 2.5}, [1, 3]),
            ),
            ("expired access tokens (refresh rotates)", self._expired_tokens),
            ("rotation during a Redis outage", self._rotation_during_redis_outage),
        ]

    def _fault(self, name: str, kind: str) -> Fault:
        fault = Fault(name, kind, started=self.now())
        self.report.faults.append(fault)
        return fault

    async def _hold(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # the fault stays in place while the load runs

    async def recover(self, fault: Fault, since: float) -> None:
        record = await self.wait_first_success(since, fault.name)
        if record is not None:
            fault.recovered = record.ended
        fault.ended = max(self.now(), fault.recovered or 0.0)

    async def wait_first_success(self, since: float, what: str) -> RequestRecord | None:
        deadline = time.monotonic() + self.recovery_deadline_s
        while time.monotonic() < deadline:
            record = self.load.first_success_after(since)
            if record is not None:
                return record
            await asyncio.sleep(0.05)
        self.report.problems.append(f"no success within {self.recovery_deadline_s:g}s after {what}")
        return None

    async def _gateway_term(self) -> None:
        fault = self._fault("SIGTERM gateway 0 (rolling restart)", "gateway_term")
        active = await self._wait_streams_in_flight(0)
        fault.started = self.now()
        code = await asyncio.to_thread(self.stack.stop_gateway, 0, 40.0)
        fault.note = f"{active} streams in flight at SIGTERM; exit status {code}"
        if code != 0:
            self.report.problems.append(f"gateway 0 exited with {code} after SIGTERM (expected 0)")
        await self._hold(self.hold_s / 2)
        await asyncio.to_thread(self.stack.start_gateway, 0)
        fault.restored = self.now()
        await self.recover(fault, fault.started)

    async def _wait_streams_in_flight(self, gateway: int) -> int:
        """Wait (up to 10 s) until that gateway serves a stream, so a stop or kill finds work in
        flight; returns how many it serves (its `gateway_streams_active` gauge)."""
        url = f"{self.stack.gateway_url(gateway)}/metrics"
        deadline = time.monotonic() + 10.0
        active = 0
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as http:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    active = gauge(
                        (await http.get(url, headers={"authorization": f"Bearer {ADMIN_KEY}"})).text,
                        "gateway_streams_active",
                    )
                if active >= 1:
                    break
                await asyncio.sleep(0.02)
        return active

    async def _broker_kill(self) -> None:
        fault = self._fault("SIGKILL broker 1", "broker_kill")
        await asyncio.to_thread(self.stack.kill_broker, 1)
        await self.recover(fault, fault.started)
        await self._hold(self.hold_s)
        await asyncio.to_thread(self.stack.start_broker, 1)
        fault.restored = self.now()
        fault.ended = max(fault.ended or 0.0, fault.started)

    async def _gateway_kill(self) -> None:
        fault = self._fault("SIGKILL gateway 1", "gateway_kill")
        active = await self._wait_streams_in_flight(1)
        fault.started = self.now()
        await asyncio.to_thread(self.stack.kill_gateway, 1)
        fault.note = f"{active} streams in flight at the kill"
        await self.recover(fault, fault.started)
        await self._hold(self.hold_s)
        await asyncio.to_thread(self.stack.start_gateway, 1)
        fault.restored = self.now()

    async def _nats_restart(self) -> None:
        await self._server_restart("NATS restart", "nats", self.stack.kill_nats, self.stack.start_nats)

    async def _redis_restart(self) -> None:
        await self._server_restart("Redis restart", "redis", self.stack.kill_redis, self.stack.start_redis)

    async def _server_restart(
        self, name: str, kind: str, kill: Callable[[], None], start: Callable[[], None]
    ) -> None:
        """SIGKILL a server, leave it down for the outage, start it again."""
        fault = self._fault(name, kind)
        await asyncio.to_thread(kill)
        await self._hold(self.outage_s)
        await asyncio.to_thread(start)
        fault.restored = self.now()
        await self.recover(fault, fault.restored)
        await self.wait_ready_all(fault)

    async def wait_ready_all(self, fault: Fault) -> None:
        """Every gateway and broker reports ready again (they reconnect on their own)."""
        urls = [self.stack.gateway_url(i) for i in range(len(self.stack.gateways))]
        urls += [self.stack.broker_url(i) for i in range(len(self.stack.brokers))]
        deadline = time.monotonic() + self.recovery_deadline_s
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as http:
            pending = set(urls)
            while pending and time.monotonic() < deadline:
                for url in list(pending):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"{url}/readyz")).status_code == 200:
                            pending.discard(url)
                if pending:
                    await asyncio.sleep(0.1)
        if pending:
            self.report.problems.append(f"not ready again after {fault.name}: {sorted(pending)}")
        fault.note = f"all replicas ready {self.now() - (fault.restored or fault.started):.1f}s after restore"

    async def _upstream(self, name: str, script: dict[str, Any], accounts: list[int]) -> None:
        fault = self._fault(name, "upstream")
        sim = self.sim
        ids = [self.stack.account_ids[i % len(self.stack.account_ids)] for i in accounts]
        seconds = self.hold_s
        for account in ids:
            await asyncio.to_thread(
                sim.script, account_id=account, mode="fault", seconds=seconds, script=script
            )
        fault.note = f"accounts {', '.join(ids)} for {seconds:g}s"
        await self.recover(fault, fault.started)
        await self._hold(seconds)
        for account in ids:
            await asyncio.to_thread(
                sim.call, SimCall("DELETE", "/_sim/scripts", params={"account_id": account})
            )
        fault.restored = self.now()
        fault.ended = self.now()

    async def _expired_tokens(self) -> None:
        fault = self._fault("expired access tokens (refresh rotates)", "upstream")
        sim = self.sim
        ids = self.stack.account_ids[:3]
        rounds = 2
        for _ in range(rounds):
            for account in ids:
                await asyncio.to_thread(sim.expire_access_tokens, account)
            await self.recover(fault, self.now())
            await self._hold(self.hold_s / rounds)
        fault.note = f"accounts {', '.join(ids)}, {rounds} rounds"
        fault.restored = fault.ended = self.now()

    async def _rotation_during_redis_outage(self) -> None:
        """A refresh that rotates is answered while Redis is down (SIGKILL mid-refresh): the
        rotated token must reach Redis once it is back (judged with every credential after the
        run: broker and simulator agree, and a forced refresh works)."""
        fault = self._fault("rotation during a Redis outage", "redis")
        sim = self.sim
        account = self.stack.account_ids[-1]
        delay = self.outage_s + 1.0
        before = str((await asyncio.to_thread(sim.account, account))["refresh_token"])
        await asyncio.to_thread(sim.patch_account, account, refresh_delay_seconds=delay)
        refresh = asyncio.create_task(
            self.stack.bus_call(
                CREDENTIAL_ACTION,
                CredentialAction(credential_id=account, action="refresh"),
                limit_s=delay + 10.0,
            )
        )
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:  # the upstream has rotated; its answer is on the way
            if str((await asyncio.to_thread(sim.account, account))["refresh_token"]) != before:
                break
            await asyncio.sleep(0.05)
        else:
            self.report.problems.append(f"{fault.name}: the forced refresh of {account} never started")
        await asyncio.sleep(0.3)
        await asyncio.to_thread(self.stack.kill_redis)
        await self._hold(self.outage_s)
        await asyncio.to_thread(self.stack.start_redis)
        fault.restored = self.now()
        with contextlib.suppress(Exception):  # the refresh itself may fail while Redis is down
            await refresh
        await asyncio.to_thread(sim.patch_account, account, refresh_delay_seconds=0)
        fault.note = f"account {account}, refresh answered {delay:g}s late"
        await self.recover(fault, fault.restored)
        await self.wait_ready_all(fault)
