"""The reliability suite: break a loopback cluster on purpose while clients keep sending.

    python -m kiro_testing.chaos            # `make chaos`: longer holds, more load
    python -m kiro_testing.chaos --short    # the form `make test` runs (>= 200 requests, every fault)

A `Cluster` (3 gateways behind a round-robin front, 2 brokers, NATS, Redis with append-only
persistence, the simulator with rotating refresh tokens) serves a steady mix of streaming and
non-streaming requests, Anthropic and OpenAI shapes, from several clients (one team key per
team when the broker issues team keys, else the operator key). Meanwhile the schedule, in turn:

    SIGTERMs a gateway (a rolling restart: nothing may fail), SIGKILLs a broker and a gateway
    (and starts them again), kills and restarts NATS and Redis, and makes the simulator answer
    429s, 500s, torn streams, slow first bytes and expired access tokens for some accounts.

Rules checked (exit status 1 when one is broken):
- every request ends within its deadline (a request past it is a *hang*);
- a failure is allowed only when it is attributable to a fault and looks like what that fault
  may cause: a cut connection for a request in flight on a SIGKILLed gateway, a 529/503 in the
  client's error shape for a request in flight on a SIGKILLed broker or during a NATS / Redis
  outage. Upstream faults and a graceful gateway restart may cause no failure at all;
- every fault is followed by a success through the front within the recovery deadline;
- no credential is lost: after the run, each one is usable, its refresh token in the broker's
  store (fingerprint from `pool.status`, generation from Redis) is the simulator's current one,
  and a forced refresh through the broker still works;
- usage: with team keys, the broker's usage rows equal what the clients were told (requests and
  tokens, per team); without, the simulator's completed streams equal the clients' successes
  (plus at most the requests in flight on a killed process);
- no secret (access / refresh token, client secret, client or admin key) in any service log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from kiro_testing.cluster import ADMIN_KEY, CLIENT_KEY, Cluster, ClusterConfig, refresh_fingerprint
from kiroproto.bus import CredentialAction, UsageQuery, UsageReport

log = logging.getLogger("kiro_testing.chaos")

OVERLOADED = {(529, "overloaded_error"), (503, "service_unavailable")}
KINDS = ("anthropic", "openai")


# ------------------------------------------------------------------------------------ options


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

    @property
    def recovery_after_restore_s(self) -> float | None:
        if self.recovered is None or self.restored is None:
            return None
        return max(0.0, self.recovered - self.restored)


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


class LoadGenerator:
    """`clients` concurrent clients, each sending one request after another until stopped."""

    def __init__(self, base_url: str, keys: list[tuple[str, str]], options: ChaosOptions, t0: float) -> None:
        self.base_url = base_url
        self.keys = keys  # (team, key) per client
        self.options = options
        self.t0 = t0
        self.records: list[RequestRecord] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._counter = 0
        self._streams = 0
        self._sent = asyncio.Event()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def start(self) -> None:
        for i in range(self.options.clients):
            self._tasks.append(asyncio.create_task(self._client(i), name=f"client-{i}"))

    async def stop(self) -> None:
        self._stop.set()
        # every request is bounded by its own deadline, so this ends
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def reached(self, count: int) -> None:
        """Return once `count` requests were started."""
        while len(self.records) < count:
            self._sent.clear()
            await self._sent.wait()

    def first_success_after(self, moment: float) -> RequestRecord | None:
        best: RequestRecord | None = None
        for r in self.records:
            if r.ok and r.started >= moment and (best is None or r.ended < best.ended):
                best = r
        return best

    async def _client(self, index: int) -> None:
        team, key = self.keys[index % len(self.keys)]
        limits = httpx.Limits(max_keepalive_connections=0, max_connections=4)
        timeout = httpx.Timeout(self.options.request_deadline_s, connect=5.0)
        async with httpx.AsyncClient(
            base_url=self.base_url, limits=limits, timeout=timeout, trust_env=False
        ) as http:
            n = 0
            while not self._stop.is_set():
                api = KINDS[(n + index) % 2]
                stream = (n // 2 + index) % 2 == 0
                n += 1
                await self.send(http, index, team, key, api, stream)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.options.pace_s)

    async def send(
        self,
        http: httpx.AsyncClient,
        client: int,
        team: str,
        key: str,
        api: str,
        stream: bool,
        probe: bool = False,
    ) -> RequestRecord:
        self._counter += 1
        rid = self._counter
        record = RequestRecord(rid, client, team, api, stream, started=self.now(), probe=probe)
        self.records.append(record)
        self._sent.set()
        tag = f"chaos-{rid:06d}"
        text = f"{tag} please echo this line back so the client can check it reached the right answer"
        if stream:
            self._streams += 1
            if self._streams % self.options.long_stream_every == 0:
                text += ' <<sim:{"event_delay":0.04}>>'
        try:
            async with asyncio.timeout(self.options.request_deadline_s):
                await self._exchange(http, record, key, api, stream, text, tag)
        except TimeoutError:
            record.klass, record.reason = "hang", f"no answer within {self.options.request_deadline_s:g}s"
        except httpx.TimeoutException:
            record.klass, record.reason = "hang", "client timeout"
        except (httpx.TransportError, httpx.StreamError) as exc:
            record.klass, record.reason = "cut", f"connection: {type(exc).__name__}"
        record.ended = self.now()
        return record

    async def _exchange(
        self, http: httpx.AsyncClient, r: RequestRecord, key: str, api: str, stream: bool, text: str, tag: str
    ) -> None:
        if api == "anthropic":
            path = "/v1/messages"
            headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
            body: dict[str, Any] = {
                "model": "claude-sonnet-4-5",
                "max_tokens": 256,
                "stream": stream,
                "messages": [{"role": "user", "content": text}],
            }
        else:
            path = "/v1/chat/completions"
            headers = {"authorization": f"Bearer {key}"}
            body = {
                "model": "claude-sonnet-4-5",
                "stream": stream,
                "messages": [{"role": "user", "content": text}],
            }
            if stream:
                body["stream_options"] = {"include_usage": True}
        async with http.stream("POST", path, headers=headers, json=body) as response:
            r.status = response.status_code
            if response.status_code != 200:
                raw = await response.aread()
                _classify_error(r, api, raw)
                return
            if not stream:
                raw = await response.aread()
                _check_json_answer(r, api, raw, tag)
                return
            lines: list[str] = []
            async for line in response.aiter_lines():
                lines.append(line)
            _check_stream(r, api, lines, tag)


def _gauge(metrics_text: str, name: str) -> int:
    """The sum of a Prometheus gauge's samples in an exposition text."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            with contextlib.suppress(ValueError, IndexError):
                total += float(line.rsplit(" ", 1)[1])
    return int(total)


def _error_shape(api: str, data: Any) -> tuple[str, str] | None:
    """(type, message) when `data` is the API's error body, else None."""
    if not isinstance(data, dict):
        return None
    err = data.get("error")
    if not isinstance(err, dict) or not isinstance(err.get("message"), str):
        return None
    if api == "anthropic" and data.get("type") != "error":
        return None
    kind = err.get("type")
    return (kind, err["message"]) if isinstance(kind, str) else None


def _classify_error(r: RequestRecord, api: str, raw: bytes) -> None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    shape = _error_shape(api, data)
    if shape is None:
        r.klass, r.reason = (
            "bad_shape",
            f"{r.status} with a body that is not the {api} error shape: {raw[:120]!r}",
        )
        return
    r.error_type = shape[0]
    r.klass = "overloaded" if (r.status, shape[0]) in OVERLOADED else "http"
    r.reason = f"{r.status} {shape[0]}: {shape[1][:100]}"


def _check_json_answer(r: RequestRecord, api: str, raw: bytes, tag: str) -> None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        r.klass, r.reason = "bad_shape", f"200 with a body that is not JSON: {raw[:120]!r}"
        return
    try:
        if api == "anthropic":
            text = "".join(b.get("text", "") for b in data["content"] if b.get("type") == "text")
            usage = data["usage"]
            r.input_tokens, r.output_tokens = int(usage["input_tokens"]), int(usage["output_tokens"])
        else:
            text = data["choices"][0]["message"]["content"] or ""
            usage = data["usage"]
            r.input_tokens, r.output_tokens = int(usage["prompt_tokens"]), int(usage["completion_tokens"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        r.klass, r.reason = "bad_shape", f"200 answer without {exc!r}"
        return
    _check_text(r, text, tag)


def _check_text(r: RequestRecord, text: str, tag: str) -> None:
    if tag in text:
        r.ok, r.klass, r.reason = True, "ok", ""
    else:
        r.klass, r.reason = "wrong_answer", f"answer does not echo {tag}: {text[:80]!r}"


def _check_stream(r: RequestRecord, api: str, lines: list[str], tag: str) -> None:
    text_parts: list[str] = []
    done = False
    event = ""
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
            continue
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            done = True
            continue
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            r.klass, r.reason = "bad_shape", f"stream line that is not JSON: {payload[:80]!r}"
            return
        if not isinstance(data, dict):
            continue
        if api == "anthropic":
            kind = data.get("type", event)
            if kind == "error":
                err = data.get("error") or {}
                r.klass, r.error_type = "stream_error", str(err.get("type"))
                r.reason = f"in-stream error {err.get('type')}: {str(err.get('message'))[:100]}"
                return
            if kind == "message_start":
                usage = data.get("message", {}).get("usage", {})
                r.input_tokens = int(usage.get("input_tokens", 0))
            elif kind == "content_block_delta":
                text_parts.append(str(data.get("delta", {}).get("text", "")))
            elif kind == "message_delta":
                usage = data.get("usage") or {}
                r.output_tokens = int(usage.get("output_tokens", r.output_tokens))
                r.input_tokens = int(usage.get("input_tokens", r.input_tokens))
            elif kind == "message_stop":
                done = True
        else:
            if "error" in data:
                err = data.get("error") or {}
                r.klass, r.error_type = "stream_error", str(err.get("type"))
                r.reason = f"in-stream error {err.get('type')}: {str(err.get('message'))[:100]}"
                return
            for choice in data.get("choices") or []:
                text_parts.append(str((choice.get("delta") or {}).get("content") or ""))
            usage = data.get("usage")
            if isinstance(usage, dict):
                r.input_tokens = int(usage.get("prompt_tokens", 0))
                r.output_tokens = int(usage.get("completion_tokens", 0))
    if not done:
        r.klass, r.reason = "cut", "stream ended without its final event"
        return
    _check_text(r, "".join(text_parts), tag)


# --------------------------------------------------------------------------------- the secrets


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


# ------------------------------------------------------------------------------------ the run


class ChaosRun:
    def __init__(self, options: ChaosOptions) -> None:
        self.options = options
        config = ClusterConfig(shutdown_grace_s=20.0)
        self.cluster = Cluster(options.workdir, config)
        self.report = Report(options={k: str(v) for k, v in dataclasses.asdict(options).items()})
        self.t0 = time.monotonic()
        self.load: LoadGenerator | None = None
        self.team_keys: dict[str, str] = {}

    def now(self) -> float:
        return time.monotonic() - self.t0

    @staticmethod
    def cleanup_dir(path: Path) -> None:
        if path.name.startswith("kiro-cluster-"):
            shutil.rmtree(path, ignore_errors=True)

    async def run(self) -> Report:
        started = time.monotonic()
        try:
            await asyncio.to_thread(self.cluster.start)
            await self._run_started()
        except Exception as exc:
            log.exception("chaos run failed")
            self.report.problems.append(f"the run itself failed: {type(exc).__name__}: {exc}")
        finally:
            if self.load is not None:
                await self.load.stop()
            await asyncio.to_thread(self.cluster.stop)
            self._scan_logs()
            self.report.log_dir = str(self.cluster.log_dir)
            self.report.duration_s = time.monotonic() - started
        return self.report

    async def _run_started(self) -> None:
        o = self.options
        keys = await self._client_keys()
        self.report.before = await self._credentials()
        self.t0 = time.monotonic()
        self.load = LoadGenerator(self.cluster.url, keys, o, self.t0)
        self.load.start()
        await self._wait_first_success(0.0, "warm-up")
        await asyncio.sleep(o.warmup_s)
        for round_ in range(self.options.rounds):
            for name, step in self._schedule():
                log.info("round %d, fault: %s", round_ + 1, name)
                await step()
        await self._top_up()
        await self.load.stop()
        self.report.records = list(self.load.records)
        await self._probe_gateways()
        await asyncio.to_thread(self.cluster.sim.clear_scripts)
        self.report.after = await self._credentials()
        await self._force_refresh()
        self._judge()
        await self._usage()

    # -- setup
    async def _client_keys(self) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        for t in range(self.options.teams):
            team = f"team{t}"
            secret = await self.cluster.create_team_key(team)
            if secret is None:
                break
            self.team_keys[team] = secret
            keys.append((team, secret))
        if len(keys) < self.options.teams:
            self.team_keys.clear()
            return [("operator", CLIENT_KEY)]
        return keys

    # -- the schedule
    def _schedule(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
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

    async def _recover(self, fault: Fault, since: float) -> None:
        record = await self._wait_first_success(since, fault.name)
        if record is not None:
            fault.recovered = record.ended
        fault.ended = max(self.now(), fault.recovered or 0.0)

    async def _wait_first_success(self, since: float, what: str) -> RequestRecord | None:
        assert self.load is not None
        deadline = time.monotonic() + self.options.recovery_deadline_s
        while time.monotonic() < deadline:
            record = self.load.first_success_after(since)
            if record is not None:
                return record
            await asyncio.sleep(0.05)
        self.report.problems.append(f"no success within {self.options.recovery_deadline_s:g}s after {what}")
        return None

    async def _gateway_term(self) -> None:
        fault = self._fault("SIGTERM gateway 0 (rolling restart)", "gateway_term")
        active = await self._wait_streams_in_flight(0)
        fault.started = self.now()
        code = await asyncio.to_thread(self.cluster.stop_gateway, 0, 40.0)
        fault.note = f"{active} streams in flight at SIGTERM; exit status {code}"
        if code != 0:
            self.report.problems.append(f"gateway 0 exited with {code} after SIGTERM (expected 0)")
        await self._hold(self.options.hold_s / 2)
        await asyncio.to_thread(self.cluster.start_gateway, 0)
        fault.restored = self.now()
        await self._recover(fault, fault.started)

    async def _wait_streams_in_flight(self, gateway: int) -> int:
        """Wait (up to 10 s) until that gateway serves a stream, so a stop or kill finds work in
        flight; returns how many it serves (its `gateway_streams_active` gauge)."""
        url = f"{self.cluster.gateway_url(gateway)}/metrics"
        deadline = time.monotonic() + 10.0
        active = 0
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as http:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    active = _gauge(
                        (await http.get(url, headers={"authorization": f"Bearer {ADMIN_KEY}"})).text,
                        "gateway_streams_active",
                    )
                if active >= 1:
                    break
                await asyncio.sleep(0.02)
        return active

    async def _broker_kill(self) -> None:
        fault = self._fault("SIGKILL broker 1", "broker_kill")
        await asyncio.to_thread(self.cluster.kill_broker, 1)
        await self._recover(fault, fault.started)
        await self._hold(self.options.hold_s)
        await asyncio.to_thread(self.cluster.start_broker, 1)
        fault.restored = self.now()
        fault.ended = max(fault.ended or 0.0, fault.started)

    async def _gateway_kill(self) -> None:
        fault = self._fault("SIGKILL gateway 1", "gateway_kill")
        active = await self._wait_streams_in_flight(1)
        fault.started = self.now()
        await asyncio.to_thread(self.cluster.kill_gateway, 1)
        fault.note = f"{active} streams in flight at the kill"
        await self._recover(fault, fault.started)
        await self._hold(self.options.hold_s)
        await asyncio.to_thread(self.cluster.start_gateway, 1)
        fault.restored = self.now()

    async def _nats_restart(self) -> None:
        fault = self._fault("NATS restart", "nats")
        await asyncio.to_thread(self.cluster.kill_nats)
        await self._hold(self.options.outage_s)
        await asyncio.to_thread(self.cluster.start_nats)
        fault.restored = self.now()
        await self._recover(fault, fault.restored)
        await self._wait_ready_all(fault)

    async def _redis_restart(self) -> None:
        fault = self._fault("Redis restart", "redis")
        await asyncio.to_thread(self.cluster.kill_redis)
        await self._hold(self.options.outage_s)
        await asyncio.to_thread(self.cluster.start_redis)
        fault.restored = self.now()
        await self._recover(fault, fault.restored)
        await self._wait_ready_all(fault)

    async def _wait_ready_all(self, fault: Fault) -> None:
        """Every gateway and broker reports ready again (they reconnect on their own)."""
        urls = [self.cluster.gateway_url(i) for i in range(len(self.cluster.gateways))]
        urls += [self.cluster.broker_url(i) for i in range(len(self.cluster.brokers))]
        deadline = time.monotonic() + self.options.recovery_deadline_s
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
        sim = self.cluster.sim
        ids = [self.cluster.account_ids[i % len(self.cluster.account_ids)] for i in accounts]
        seconds = self.options.hold_s
        for account in ids:
            await asyncio.to_thread(
                sim.script, account_id=account, mode="fault", seconds=seconds, script=script
            )
        fault.note = f"accounts {', '.join(ids)} for {seconds:g}s"
        await self._recover(fault, fault.started)
        await self._hold(seconds)
        for account in ids:
            await asyncio.to_thread(sim.call, "DELETE", f"/_sim/scripts?account_id={account}")
        fault.restored = self.now()
        fault.ended = self.now()

    async def _expired_tokens(self) -> None:
        fault = self._fault("expired access tokens (refresh rotates)", "upstream")
        sim = self.cluster.sim
        ids = self.cluster.account_ids[:3]
        rounds = 2
        for _ in range(rounds):
            for account in ids:
                await asyncio.to_thread(sim.expire_access_tokens, account)
            await self._recover(fault, self.now())
            await self._hold(self.options.hold_s / rounds)
        fault.note = f"accounts {', '.join(ids)}, {rounds} rounds"
        fault.restored = fault.ended = self.now()

    async def _rotation_during_redis_outage(self) -> None:
        """A refresh that rotates is answered while Redis is down (SIGKILL mid-refresh): the
        rotated token must reach Redis once it is back (judged with every credential after the
        run: broker and simulator agree, and a forced refresh works)."""
        fault = self._fault("rotation during a Redis outage", "redis")
        sim = self.cluster.sim
        account = self.cluster.account_ids[-1]
        delay = self.options.outage_s + 1.0
        path = f"/_sim/accounts/{account}"
        before = str((await asyncio.to_thread(sim.call, "GET", path))["refresh_token"])
        await asyncio.to_thread(sim.call, "PATCH", path, {"refresh_delay_seconds": delay})
        refresh = asyncio.create_task(
            self.cluster.bus_request(
                self.cluster.subjects.credential_action,
                CredentialAction(credential_id=account, action="refresh"),
                limit_s=delay + 10.0,
            )
        )
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:  # the upstream has rotated; its answer is on the way
            if str((await asyncio.to_thread(sim.call, "GET", path))["refresh_token"]) != before:
                break
            await asyncio.sleep(0.05)
        else:
            self.report.problems.append(f"{fault.name}: the forced refresh of {account} never started")
        await asyncio.sleep(0.3)
        await asyncio.to_thread(self.cluster.kill_redis)
        await self._hold(self.options.outage_s)
        await asyncio.to_thread(self.cluster.start_redis)
        fault.restored = self.now()
        with contextlib.suppress(Exception):  # the refresh itself may fail while Redis is down
            await refresh
        await asyncio.to_thread(sim.call, "PATCH", path, {"refresh_delay_seconds": 0})
        fault.note = f"account {account}, refresh answered {delay:g}s late"
        await self._recover(fault, fault.restored)
        await self._wait_ready_all(fault)

    async def _top_up(self) -> None:
        """Keep the load going (no faults) until the minimum number of requests was sent."""
        assert self.load is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.load.reached(self.options.min_requests), 120.0)

    async def _probe_gateways(self) -> None:
        """One request straight to each gateway replica: the restarted ones serve again."""
        assert self.load is not None
        team, key = next(iter(self.team_keys.items()), ("operator", CLIENT_KEY))
        for i in range(len(self.cluster.gateways)):
            async with httpx.AsyncClient(
                base_url=self.cluster.gateway_url(i), timeout=self.options.request_deadline_s, trust_env=False
            ) as http:
                record = await self.load.send(http, -1 - i, team, key, "anthropic", False, probe=True)
            self.report.records.append(record)
            if not record.ok:
                self.report.problems.append(f"gateway {i} does not serve after the run: {record.reason}")

    # -- credentials
    async def _credentials(self) -> list[CredentialView]:
        status = await self.cluster.pool_status()
        accounts = {a["id"]: a for a in await asyncio.to_thread(self.cluster.sim.accounts)}
        stats = (await asyncio.to_thread(self.cluster.sim.stats)).get("accounts", {})
        views = []
        for cred in status.credentials:
            record = await asyncio.to_thread(self.cluster.credential_record, cred.id)
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

    async def _force_refresh(self) -> None:
        """Each credential's stored refresh token still works: a forced refresh, then compare again."""
        for view in self.report.after:
            try:
                data = await self.cluster.bus_request(
                    self.cluster.subjects.credential_action,
                    CredentialAction(credential_id=view.id, action="refresh"),
                    limit_s=30.0,
                )
                ack = json.loads(data or b"{}")
                self.report.forced_refresh[view.id] = "ok" if ack.get("ok", True) else f"refused: {ack}"
            except Exception as exc:
                self.report.forced_refresh[view.id] = f"failed: {exc}"
        final = {v.id: v for v in await self._credentials()}
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

    # -- judging
    def _judge(self) -> None:
        r = self.report
        load = r.load()
        if len(load) < self.options.min_requests:
            r.problems.append(
                f"only {len(load)} requests sent (at least {self.options.min_requests} required)"
            )
        for record in r.records:
            if record.ok:
                continue
            fault = self._attribute(record)
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

    def _attribute(self, record: RequestRecord) -> Fault | None:
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

    # -- usage
    async def _usage(self) -> None:
        r = self.report
        ok = [x for x in r.records if x.ok]
        if self.team_keys:
            r.usage_method = "team keys: broker usage rows (usage.query) vs what clients were told"
            today = datetime.now(UTC).date()
            query = UsageQuery(start=(today - timedelta(days=1)).isoformat(), end=today.isoformat())
            try:
                data = await self.cluster.bus_request(self.cluster.subjects.usage_query, query, limit_s=10.0)
                report = UsageReport.model_validate_json(data)
            except Exception as exc:
                r.problems.append(f"usage query failed: {exc}")
                return
            for team in sorted(self.team_keys):
                rows = [row for row in report.rows if row.team == team]
                mine = [x for x in ok if x.team == team]
                server_ok = sum(row.requests - row.errors for row in rows)
                pairs = [
                    ("requests ok", len(mine), server_ok),
                    (
                        "input tokens",
                        sum(x.input_tokens for x in mine),
                        sum(row.input_tokens for row in rows),
                    ),
                    (
                        "output tokens",
                        sum(x.output_tokens for x in mine),
                        sum(row.output_tokens for row in rows),
                    ),
                ]
                for what, clients, server in pairs:
                    equal = clients == server
                    r.usage_rows.append(
                        (f"{team} {what}", str(clients), str(server), "equal" if equal else "DIFFERENT")
                    )
                    if not equal:
                        r.problems.append(
                            f"usage {team} {what}: clients were told {clients}, the broker has {server}"
                        )
            await self._sim_usage(ok)
            return
        r.usage_method = "simulator completed streams vs client successes (no team keys in this build)"
        await self._sim_usage(ok)

    async def _sim_usage(self, ok: list[RequestRecord]) -> None:
        """The simulator's view: every client success is one completed upstream stream; a stream
        may also have completed for a request that failed on a fault (its client was cut)."""
        r = self.report
        stats = await asyncio.to_thread(self.cluster.sim.stats)
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

    # -- secrets
    def _scan_logs(self) -> None:
        known = [CLIENT_KEY, ADMIN_KEY, *self.team_keys.values()]
        with contextlib.suppress(Exception):
            for account in self.cluster.sim.accounts():
                known += [str(account.get(k) or "") for k in ("refresh_token", "client_secret")]
        logs = {k: v for k, v in self.cluster.logs().items() if not k.startswith("kiro-sim")}
        self.report.secrets_found = scan_for_secrets(logs, known)
        if self.report.secrets_found:
            self.report.problems.append(f"{len(self.report.secrets_found)} secrets in service logs")


# ---------------------------------------------------------------------------------- the table


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def render(report: Report) -> str:
    load = report.load()
    failed = [r for r in report.records if not r.ok]
    kinds = Counter(f"{r.api}/{'stream' if r.stream else 'json'}" for r in load)
    parts = [
        f"Kiro2API chaos run ({'short' if report.options.get('short') == 'True' else 'full'}), "
        f"{report.duration_s:.0f}s",
        "",
        _table(
            ["requests sent", "succeeded", "failed", "allowed", "outside the rules", "hangs"],
            [
                [
                    str(len(load)),
                    str(sum(r.ok for r in load)),
                    str(sum(not r.ok for r in load)),
                    str(sum(1 for r in failed if r.verdict and r.verdict != "OUTSIDE THE RULES")),
                    str(sum(1 for r in failed if r.verdict == "OUTSIDE THE RULES")),
                    str(sum(r.klass == "hang" for r in report.records)),
                ]
            ],
        ),
        "mix: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
        "",
        "failures",
        _table(
            ["#", "t (s)", "request", "reason", "attributed to"],
            [
                [
                    str(r.id),
                    f"{r.started:.2f}-{r.ended:.2f}",
                    f"{r.api}/{'stream' if r.stream else 'json'}",
                    r.reason[:90],
                    r.verdict,
                ]
                for r in failed
            ],
        )
        if failed
        else "  none",
        "",
        "faults",
        _table(
            ["fault", "at (s)", "restored (s)", "recovery (s)", "failures", "note"],
            [
                [f.name, f"{f.started:.2f}", _fmt(f.restored), _fmt(f.recovery_s), str(f.failures), f.note]
                for f in report.faults
            ],
        ),
        "",
        "credentials (refresh token = fingerprint in the broker's store; sim = the simulator's current one)",
        _table(
            [
                "id",
                "status before",
                "status after",
                "generation",
                "sim refreshes",
                "token before",
                "token after",
                "matches sim",
                "forced refresh",
            ],
            [
                [
                    a.id,
                    b.status if b else "-",
                    a.status,
                    f"{b.generation if b else '-'} -> {a.generation}",
                    f"{b.sim_refreshes if b else '-'} -> {a.sim_refreshes}",
                    b.fingerprint if b else "-",
                    a.fingerprint,
                    "yes" if a.matches else "NO",
                    report.forced_refresh.get(a.id, "-"),
                ]
                for a in report.after
                for b in [next((x for x in report.before if x.id == a.id), None)]
            ],
        ),
        "",
        f"usage ({report.usage_method})",
        _table(["what", "clients were told", "server", "result"], [list(r) for r in report.usage_rows])
        if report.usage_rows
        else "  -",
        "",
        f"secrets in service logs: {len(report.secrets_found)}"
        + "".join(f"\n  {s}" for s in report.secrets_found[:20]),
        "",
        "RESULT: PASS"
        if report.passed
        else "RESULT: FAIL\n" + "\n".join(f"  - {p}" for p in report.problems),
    ]
    return "\n".join(parts) + "\n"


# -------------------------------------------------------------------------------- entry point


def run_chaos(options: ChaosOptions) -> Report:
    return asyncio.run(ChaosRun(options).run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kiro_testing.chaos", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--short", action="store_true", help="the short form run by `make test`")
    parser.add_argument("--clients", type=int, help="concurrent clients")
    parser.add_argument("--hold", type=float, help="seconds each fault stays in place")
    parser.add_argument("--min-requests", type=int, help="keep the load going until this many were sent")
    parser.add_argument("--workdir", type=Path, help="keep logs and Redis data here (default: a temp folder)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides: dict[str, Any] = {}
    if args.clients:
        overrides["clients"] = args.clients
    if args.hold:
        overrides["hold_s"] = args.hold
    if args.min_requests:
        overrides["min_requests"] = args.min_requests
    options = (
        ChaosOptions.short_form(**overrides)
        if args.short
        else dataclasses.replace(ChaosOptions(), **overrides)
    )
    options.workdir = args.workdir
    options.json_path = args.json
    report = run_chaos(options)
    sys.stdout.write(render(report))
    run = report.options.get("workdir")
    if args.workdir is None and report.passed:
        ChaosRun.cleanup_dir(Path(report.log_dir).parent)
    else:
        sys.stdout.write(f"logs: {report.log_dir or run}\n")
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=2, default=str))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
