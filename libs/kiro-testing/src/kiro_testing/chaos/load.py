"""The load of a chaos run: concurrent clients sending a mix of streaming and non-streaming
requests, Anthropic and OpenAI shapes, each answer checked and recorded (`RequestRecord`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from kiro_testing.chaos.ledger import RequestRecord

OVERLOADED = {(529, "overloaded_error"), (503, "service_unavailable")}
KINDS = ("anthropic", "openai")


@dataclass(frozen=True)
class LoadOptions:
    clients: int
    pace_s: float  # each client's pause between two requests (load pacing, not timing)
    request_deadline_s: float
    long_stream_every: int  # every Nth streaming request is slowed (so kills find streams)


class LoadGenerator:
    """`clients` concurrent clients, each sending one request after another until stopped."""

    def __init__(self, base_url: str, keys: list[tuple[str, str]], options: LoadOptions, t0: float) -> None:
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
                classify_error(r, api, raw)
                return
            if not stream:
                raw = await response.aread()
                check_json_answer(r, api, raw, tag)
                return
            lines: list[str] = []
            async for line in response.aiter_lines():
                lines.append(line)
            check_stream(r, api, lines, tag)


def gauge(metrics_text: str, name: str) -> int:
    """The sum of a Prometheus gauge's samples in an exposition text."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            with contextlib.suppress(ValueError, IndexError):
                total += float(line.rsplit(" ", 1)[1])
    return int(total)


def error_shape(api: str, data: Any) -> tuple[str, str] | None:
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


def classify_error(r: RequestRecord, api: str, raw: bytes) -> None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    shape = error_shape(api, data)
    if shape is None:
        r.klass, r.reason = (
            "bad_shape",
            f"{r.status} with a body that is not the {api} error shape: {raw[:120]!r}",
        )
        return
    r.error_type = shape[0]
    r.klass = "overloaded" if (r.status, shape[0]) in OVERLOADED else "http"
    r.reason = f"{r.status} {shape[0]}: {shape[1][:100]}"


def check_json_answer(r: RequestRecord, api: str, raw: bytes, tag: str) -> None:
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
    check_text(r, text, tag)


def check_text(r: RequestRecord, text: str, tag: str) -> None:
    if tag in text:
        r.ok, r.klass, r.reason = True, "ok", ""
    else:
        r.klass, r.reason = "wrong_answer", f"answer does not echo {tag}: {text[:80]!r}"


def check_stream(r: RequestRecord, api: str, lines: list[str], tag: str) -> None:
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
    check_text(r, "".join(text_parts), tag)


# --------------------------------------------------------------------------------- the secrets
