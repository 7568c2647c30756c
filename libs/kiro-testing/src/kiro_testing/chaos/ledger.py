"""The ledger of a chaos run: what the clients sent and were told (`RequestRecord`), the faults
(`Fault`), what the broker and the simulator hold (`CredentialView`), and the checks that they
all agree: failures only where a fault explains them, no credential lost, usage equal (or ahead
only for requests a killed gateway cut), no secret in a log."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kiro_testing.sim import SimControl
from kiro_testing.stack import Stack
from kiroproto.bus import CREDENTIAL_ACTION, USAGE_QUERY, CredentialAction, UsageQuery


def refresh_fingerprint(token: str) -> str:
    """The broker's fingerprint of a secret (kiroproto.credentials.fingerprint)."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:10]


@dataclass
class RequestRecord:
    id: int
    client: int
    team: str
    api: str
    stream: bool
    started: float
    ended: float = 0.0
    ok: bool = False
    status: int | None = None
    error_type: str | None = None
    reason: str = ""
    klass: str = ""  # ok | cut | overloaded | http | stream_error | bad_shape | wrong_answer | hang
    input_tokens: int = 0
    output_tokens: int = 0
    probe: bool = False
    verdict: str = ""  # for failures: the fault it is attributed to, or "OUTSIDE THE RULES"


def cut_on_a_kill(record: RequestRecord) -> bool:
    """A request whose connection a SIGKILLed gateway cut: its usage may have been written ahead
    (durable before the client is told) with the answer's last bytes still unsent."""
    return record.klass == "cut" and record.verdict not in ("", "OUTSIDE THE RULES")


def usage_result(clients: int, server: int, max_excess: int) -> str:
    """`equal`, `written ahead` or `DIFFERENT` for one usage figure.

    The broker must hold at least what the clients were told (nothing lost). It may hold up to
    `max_excess` more, for requests cut by a killed gateway after their usage was written ahead.
    """
    if server == clients:
        return "equal"
    if 0 < server - clients <= max_excess:
        return "written ahead"
    return "DIFFERENT"


@dataclass
class Fault:
    name: str
    kind: str  # gateway_term | gateway_kill | broker_kill | nats | redis | upstream
    started: float
    restored: float | None = None
    recovered: float | None = None  # end of the first success that started after the fault
    ended: float | None = None  # end of the attribution window
    failures: int = 0
    note: str = ""

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered is None else self.recovered - self.started


@dataclass
class CredentialView:
    id: str
    status: str
    fingerprint: str
    generation: int
    sim_fingerprint: str
    sim_refreshes: int

    @property
    def matches(self) -> bool:
        return bool(self.fingerprint) and self.fingerprint == self.sim_fingerprint


@dataclass
class Report:
    options: dict[str, Any]
    records: list[RequestRecord] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    before: list[CredentialView] = field(default_factory=list)
    after: list[CredentialView] = field(default_factory=list)
    forced_refresh: dict[str, str] = field(default_factory=dict)
    usage_method: str = ""
    usage_rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # what, clients, server, ok
    secrets_found: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    log_dir: str = ""

    @property
    def passed(self) -> bool:
        return not self.problems

    def load(self) -> list[RequestRecord]:
        return [r for r in self.records if not r.probe]

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "problems": self.problems,
            "options": self.options,
            "duration_s": round(self.duration_s, 1),
            "sent": len(self.load()),
            "succeeded": sum(r.ok for r in self.load()),
            "failed": [dataclasses.asdict(r) for r in self.records if not r.ok],
            "hangs": sum(r.klass == "hang" for r in self.records),
            "faults": [{**dataclasses.asdict(f), "recovery_s": f.recovery_s} for f in self.faults],
            "credentials_before": [dataclasses.asdict(c) for c in self.before],
            "credentials_after": [dataclasses.asdict(c) for c in self.after],
            "forced_refresh": self.forced_refresh,
            "usage_method": self.usage_method,
            "usage": self.usage_rows,
            "secrets_found": self.secrets_found,
        }


# -------------------------------------------------------------------------------- the clients


TOKEN_PATTERN = re.compile(r"\bao[ar][A-Za-z0-9_\-]{30,}")


def scan_for_secrets(logs: Mapping[str, str], known: Iterable[str]) -> list[str]:
    """Findings (`file:line: what`) for token-shaped strings and known secrets in log text."""
    secrets = sorted({s for s in known if s and len(s) >= 8}, key=len, reverse=True)
    findings: list[str] = []
    for name, text in logs.items():
        for number, line in enumerate(text.splitlines(), 1):
            match = TOKEN_PATTERN.search(line)
            if match:
                token = match.group(0)
                findings.append(f"{name}:{number}: token-shaped string {token[:3]}… ({len(token)} chars)")
                continue
            for secret in secrets:
                if secret in line:
                    findings.append(f"{name}:{number}: a known secret ({secret[:4]}…, {len(secret)} chars)")
                    break
    return findings


class Ledger:
    """Judges a run's `Report` and reads what the stack holds into it."""

    def __init__(self, stack: Stack, report: Report) -> None:
        self.stack = stack
        self.sim: SimControl = stack.sim
        self.report = report

    async def credentials(self) -> list[CredentialView]:
        status = await self.stack.pool_status()
        accounts = {a["id"]: a for a in await asyncio.to_thread(self.sim.accounts)}
        stats = (await asyncio.to_thread(self.sim.stats, False)).get("accounts", {})
        views = []
        for cred in status.credentials:
            record = await asyncio.to_thread(self.stack.credential_record, cred.id)
            account = accounts.get(cred.id, {})
            token = str(account.get("refresh_token") or "")
            views.append(
                CredentialView(
                    id=cred.id,
                    status=str(cred.status),
                    fingerprint=cred.refresh_token_fingerprint or "",
                    generation=int(record.get("generation") or 0),
                    sim_fingerprint=refresh_fingerprint(token) if token else "",
                    sim_refreshes=int(stats.get(cred.id, {}).get("refresh_calls", 0)),
                )
            )
        return sorted(views, key=lambda v: v.id)

    async def force_refresh(self) -> None:
        """Each credential's stored refresh token still works: a forced refresh, then compare again."""
        for view in self.report.after:
            try:
                ack = await self.stack.bus_call(
                    CREDENTIAL_ACTION, CredentialAction(credential_id=view.id, action="refresh"), limit_s=30.0
                )
                self.report.forced_refresh[view.id] = "ok" if ack.ok else f"refused: {ack.message}"
            except Exception as exc:
                self.report.forced_refresh[view.id] = f"failed: {exc}"
        final = {v.id: v for v in await self.credentials()}
        for view in self.report.after:
            now = final.get(view.id)
            if self.report.forced_refresh.get(view.id) != "ok":
                self.report.problems.append(
                    f"credential {view.id}: forced refresh {self.report.forced_refresh.get(view.id)}"
                )
            elif now is None or not now.matches or now.status != "active":
                self.report.problems.append(
                    f"credential {view.id}: after a forced refresh the broker and simulator disagree"
                )

    def judge(self, min_requests: int) -> None:
        """The rules over the run: enough requests, every failure attributable to a fault, every
        fault recovered, no credential lost, rotations happened."""
        r = self.report
        load = r.load()
        if len(load) < min_requests:
            r.problems.append(f"only {len(load)} requests sent (at least {min_requests} required)")
        for record in r.records:
            if record.ok:
                continue
            fault = self.attribute(record)
            if fault is None:
                record.verdict = "OUTSIDE THE RULES"
                r.problems.append(
                    f"request {record.id} failed outside the rules: {record.klass}: {record.reason}"
                )
            else:
                record.verdict = fault.name
                fault.failures += 1
        for fault in r.faults:
            if fault.recovered is None:
                r.problems.append(f"{fault.name}: no recovery")
        before = {v.id: v for v in r.before}
        if {v.id for v in r.after} != set(before):
            r.problems.append(
                f"credentials before {sorted(before)} and after {sorted(v.id for v in r.after)} differ"
            )
        for view in r.after:
            if view.status not in ("active", "cooling_down"):
                r.problems.append(f"credential {view.id} is {view.status} after the run")
            if not view.matches:
                r.problems.append(
                    f"credential {view.id}: the broker's refresh token ({view.fingerprint}) is not the "
                    f"simulator's current one ({view.sim_fingerprint}): a rotated refresh token was lost"
                )
        rotations = sum(a.generation - before[a.id].generation for a in r.after if a.id in before)
        if rotations <= 0:
            r.problems.append(
                "no refresh token was rotated during the run (the rotation fault did not happen)"
            )

    def attribute(self, record: RequestRecord) -> Fault | None:
        """The fault that explains this failure, or None (outside the rules)."""
        if record.klass in ("hang", "bad_shape", "wrong_answer"):
            return None
        end = record.ended
        for fault in self.report.faults:
            start = fault.started
            if fault.kind == "gateway_kill" and record.klass == "cut":
                if record.started <= start + 0.05 and end >= start:
                    return fault
            elif fault.kind == "broker_kill" and record.klass == "overloaded":
                if record.started <= start + 0.05 and end >= start:
                    return fault
            elif fault.kind in ("nats", "redis") and record.klass == "overloaded":
                window_end = fault.recovered if fault.recovered is not None else fault.ended or start
                if end >= start and record.started <= window_end:
                    return fault
        return None

    async def usage(self, team_keys: Mapping[str, str]) -> None:
        r = self.report
        ok = [x for x in r.records if x.ok]
        if team_keys:
            r.usage_method = "team keys: broker usage rows (usage.query) vs what clients were told"
            today = datetime.now(UTC).date()
            query = UsageQuery(start=(today - timedelta(days=1)).isoformat(), end=today.isoformat())
            try:
                report = await self.stack.bus_call(USAGE_QUERY, query, limit_s=10.0)
            except Exception as exc:
                r.problems.append(f"usage query failed: {exc}")
                return
            for team in sorted(team_keys):
                rows = [row for row in report.rows if row.team == team]
                mine = [x for x in ok if x.team == team]
                cut = sum(1 for x in r.records if x.team == team and cut_on_a_kill(x))
                server_ok = sum(row.requests - row.errors for row in rows)
                # tokens of a written-ahead request are unknown to its cut client: any excess
                # is allowed once the request count shows such a request, none otherwise
                tokens_slack = sys.maxsize if 0 < server_ok - len(mine) <= cut else 0
                pairs = [
                    ("requests ok", len(mine), server_ok, cut),
                    (
                        "input tokens",
                        sum(x.input_tokens for x in mine),
                        sum(row.input_tokens for row in rows),
                        tokens_slack,
                    ),
                    (
                        "output tokens",
                        sum(x.output_tokens for x in mine),
                        sum(row.output_tokens for row in rows),
                        tokens_slack,
                    ),
                ]
                for what, clients, server, max_excess in pairs:
                    result = usage_result(clients, server, max_excess)
                    r.usage_rows.append((f"{team} {what}", str(clients), str(server), result))
                    if result == "DIFFERENT":
                        r.problems.append(
                            f"usage {team} {what}: clients were told {clients}, the broker has {server}"
                            f" ({cut} of the team's requests were cut by a killed gateway)"
                        )
            await self._sim_usage(ok)
            return
        r.usage_method = "simulator completed streams vs client successes (no team keys in this build)"
        await self._sim_usage(ok)

    async def _sim_usage(self, ok: list[RequestRecord]) -> None:
        """The simulator's view: every client success is one completed upstream stream; a stream
        may also have completed for a request that failed on a fault (its client was cut)."""
        r = self.report
        stats = await asyncio.to_thread(self.sim.stats, False)
        completed = int(stats.get("totals", {}).get("completed_streams", 0))
        in_flight_losses = sum(
            1 for x in r.records if not x.ok and x.verdict and x.verdict != "OUTSIDE THE RULES"
        )
        fine = len(ok) <= completed <= len(ok) + in_flight_losses
        r.usage_rows.append(
            (
                "completed upstream streams",
                f"{len(ok)} successes (+ up to {in_flight_losses} in flight on a fault)",
                str(completed),
                "consistent" if fine else "DIFFERENT",
            )
        )
        if not fine:
            r.problems.append(
                f"usage: the simulator completed {completed} streams, clients saw {len(ok)} successes "
                f"and {in_flight_losses} allowed failures"
            )

    def scan_logs(self, known_keys: Iterable[str]) -> None:
        known = list(known_keys)
        with contextlib.suppress(Exception):
            for account in self.sim.accounts():
                known += [str(account.get(k) or "") for k in ("refresh_token", "client_secret")]
        logs = {k: v for k, v in self.stack.logs().items() if not k.startswith("kiro-sim")}
        self.report.secrets_found = scan_for_secrets(logs, known)
        if self.report.secrets_found:
            self.report.problems.append(f"{len(self.report.secrets_found)} secrets in service logs")
