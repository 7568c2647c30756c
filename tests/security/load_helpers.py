"""Helpers of the large-request and inbound-limit tests (test_load_*.py): big request bodies,
raw sockets, and a `/healthz` prober that measures the gateway's event-loop latency."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import socket
import time
from dataclasses import dataclass, field

import httpx
import orjson
from PIL import Image

MODEL = "claude-sonnet-4-5"
_WORDS = (
    b"the quick brown fox jumps over a lazy dog while code returns values\n"
    b"def handler(request): return json.dumps({'ok': True, 'items': [1, 2, 3]})\n"
)


def filler_text(nbytes: int) -> str:
    """Text of about `nbytes` (prose and code lines)."""
    return (_WORDS * (nbytes // len(_WORDS) + 1))[:nbytes].decode()


def big_messages_body(megabytes: float, *, stream: bool = False, chunk_kb: int = 256) -> bytes:
    """A `/v1/messages` body of about `megabytes` MB: a long conversation of ~256 KB turns, the
    last user turn a short question (so the simulator echoes it)."""
    turn = filler_text(chunk_kb * 1024)
    count = max(2, int(megabytes * 1024 * 1024 / len(turn)))
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": turn} for i in range(count)]
    if messages[-1]["role"] == "user":
        messages.append({"role": "assistant", "content": "ok"})
    messages.append({"role": "user", "content": "big hello"})
    return orjson.dumps({"model": MODEL, "max_tokens": 64, "stream": stream, "messages": messages})


def png_base64(width: int, height: int) -> str:
    """A real, decodable base64 PNG of `width` x `height` random pixels (incompressible: about
    3 bytes a pixel), like a large screenshot. Clients send real images, and the gateway reads
    every image it has to fit (media/)."""
    buffer = io.BytesIO()
    pixels = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    pixels.save(buffer, "PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode()


def big_count_body(megabytes: float, *, text_mb: float = 2.0) -> bytes:
    """A `/v1/messages/count_tokens` body of about `megabytes` MB: `text_mb` of text (counted
    by the BPE) and screenshots (counted by their size) for the rest."""
    image = png_base64(1280, 800)
    images = max(1, int((megabytes - text_mb) * 1024 * 1024 / len(image)))
    content: list[dict[str, object]] = [{"type": "text", "text": filler_text(int(text_mb * 1024 * 1024))}]
    content += [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image}}
        for _ in range(images)
    ]
    return orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": content}]})


@dataclass
class LoopProbe:
    """GET /healthz every `interval` s until stopped; records each answer's latency."""

    url: str
    interval: float = 0.1
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    at: list[float] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    response = await client.get(self.url + "/healthz")
                    if response.status_code != 200:
                        self.failures.append(f"status {response.status_code}")
                except httpx.HTTPError as exc:
                    self.failures.append(type(exc).__name__)
                self.latencies.append(time.perf_counter() - started)
                self.at.append(started)
                await asyncio.sleep(self.interval)

    def stop(self) -> None:
        self._stop.set()

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock


def read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes (or `limit_s` passes), and when that was."""
    started = time.monotonic()
    sock.settimeout(0.2)
    data = b""
    while time.monotonic() - started < limit_s:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - started


@dataclass(frozen=True)
class BigAnswer:
    status: int
    body: bytes
    body_bytes: int
    seconds: float  # from the first byte sent to the whole answer


def post_big(url: str, path: str, kind: str, megabytes: float, api_key: str) -> BigAnswer:
    """Build a big body and POST it, in a process of its own (run through a spawn pool), so the
    test's own CPU for 100 MB of request does not delay the probes of the test's loop."""
    body = big_messages_body(megabytes) if kind == "messages" else big_count_body(megabytes)
    headers = {"x-api-key": api_key, "content-type": "application/json", "anthropic-version": "2023-06-01"}
    started = time.perf_counter()
    with httpx.Client(timeout=300.0) as client:
        response = client.post(url + path, content=body, headers=headers)
    return BigAnswer(response.status_code, response.content, len(body), time.perf_counter() - started)
