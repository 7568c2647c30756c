"""One chaos run: start the deployment, run the load and the fault schedule, then judge the
ledger (`python -m kiro_testing.chaos` prints it with `kiro_testing.chaos.report`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kiro_testing.chaos.deployment import ADMIN_KEY, CLIENT_KEY, cluster_config
from kiro_testing.chaos.faults import Faults
from kiro_testing.chaos.ledger import Ledger, Report
from kiro_testing.chaos.load import LoadGenerator, LoadOptions
from kiro_testing.stack import Stack

log = logging.getLogger("kiro_testing.chaos")

WORKDIR_PREFIX = "kiro-chaos-"


@dataclass
class ChaosOptions:
    short: bool = False
    clients: int = 6
    teams: int = 3
    pace_s: float = 0.35  # each client's pause between two requests (load pacing, not timing)
    hold_s: float = 4.0  # how long each fault is left in place while the load runs
    outage_s: float = 2.0  # how long NATS / Redis stay down
    warmup_s: float = 3.0
    request_deadline_s: float = 45.0
    recovery_deadline_s: float = 45.0
    min_requests: int = 1000
    rounds: int = 2  # times the whole fault schedule runs
    long_stream_every: int = 3  # every Nth streaming request is slowed (so kills find streams)
    workdir: Path | None = None
    json_path: Path | None = None

    @classmethod
    def short_form(cls, **overrides: Any) -> ChaosOptions:
        base = cls(
            short=True,
            clients=5,
            pace_s=0.3,
            hold_s=2.0,
            outage_s=1.5,
            warmup_s=2.0,
            min_requests=200,
            rounds=1,
        )
        return dataclasses.replace(base, **overrides)

    # ------------------------------------------------------------------------------------ records

    def load_options(self) -> LoadOptions:
        return LoadOptions(self.clients, self.pace_s, self.request_deadline_s, self.long_stream_every)


class ChaosRun:
    def __init__(self, options: ChaosOptions) -> None:
        self.options = options
        self.workdir = options.workdir or Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        config = cluster_config(shutdown_grace_s=20.0)
        config.data_dir = self.workdir
        self.stack = Stack(self.workdir / "logs", config)
        self.report = Report(options={k: str(v) for k, v in dataclasses.asdict(options).items()})
        self.ledger = Ledger(self.stack, self.report)
        self.load: LoadGenerator | None = None
        self.team_keys: dict[str, str] = {}

    @staticmethod
    def cleanup_dir(path: Path) -> None:
        if path.name.startswith(WORKDIR_PREFIX):
            shutil.rmtree(path, ignore_errors=True)

    async def run(self) -> Report:
        started = time.monotonic()
        try:
            await asyncio.to_thread(self.stack.start)
            await self._run_started()
        except Exception as exc:
            log.exception("chaos run failed")
            self.report.problems.append(f"the run itself failed: {type(exc).__name__}: {exc}")
        finally:
            if self.load is not None:
                await self.load.stop()
            await asyncio.to_thread(self.stack.stop)
            self.ledger.scan_logs([CLIENT_KEY, ADMIN_KEY, *self.team_keys.values()])
            self.report.log_dir = str(self.stack.log_dir)
            self.report.duration_s = time.monotonic() - started
        return self.report

    async def _run_started(self) -> None:
        o = self.options
        keys = await self._client_keys()
        self.report.before = await self.ledger.credentials()
        self.load = LoadGenerator(self.stack.url, keys, o.load_options(), time.monotonic())
        faults = Faults(
            self.stack,
            self.load,
            self.report,
            hold_s=o.hold_s,
            outage_s=o.outage_s,
            recovery_deadline_s=o.recovery_deadline_s,
        )
        self.load.start()
        await faults.wait_first_success(0.0, "warm-up")
        await asyncio.sleep(o.warmup_s)
        for round_ in range(o.rounds):
            for name, step in faults.schedule():
                log.info("round %d, fault: %s", round_ + 1, name)
                await step()
        await self._top_up()
        await self.load.stop()
        self.report.records = list(self.load.records)
        await self._probe_gateways()
        await asyncio.to_thread(self.stack.sim.clear_scripts)
        self.report.after = await self.ledger.credentials()
        await self.ledger.force_refresh()
        self.ledger.judge(o.min_requests)
        await self.ledger.usage(self.team_keys)

    # -- setup
    async def _client_keys(self) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        for t in range(self.options.teams):
            team = f"team{t}"
            secret = await self.stack.create_team_key(team)
            if secret is None:
                break
            self.team_keys[team] = secret
            keys.append((team, secret))
        if len(keys) < self.options.teams:
            self.team_keys.clear()
            return [("operator", CLIENT_KEY)]
        return keys

    async def _top_up(self) -> None:
        """Keep the load going (no faults) until the minimum number of requests was sent."""
        assert self.load is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.load.reached(self.options.min_requests), 120.0)

    async def _probe_gateways(self) -> None:
        """One request straight to each gateway replica: the restarted ones serve again."""
        assert self.load is not None
        team, key = next(iter(self.team_keys.items()), ("operator", CLIENT_KEY))
        for i in range(len(self.stack.gateways)):
            async with httpx.AsyncClient(
                base_url=self.stack.gateway_url(i), timeout=self.options.request_deadline_s, trust_env=False
            ) as http:
                record = await self.load.send(http, -1 - i, team, key, "anthropic", False, probe=True)
            self.report.records.append(record)
            if not record.ok:
                self.report.problems.append(f"gateway {i} does not serve after the run: {record.reason}")


def run_chaos(options: ChaosOptions) -> Report:
    return asyncio.run(ChaosRun(options).run())
