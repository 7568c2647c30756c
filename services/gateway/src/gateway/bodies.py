"""Request bodies of the chat routes: read them without stalling the loop, admit large ones
against the replica's budget of bytes in flight, and run the CPU-heavy preparation
(prepare.py) inline for small bodies and in worker processes (offload.py) for large ones.

- A body of at least `GATEWAY_OFFLOAD_THRESHOLD_BYTES` is "large": its parse, validation,
  conversion and counting run in the `Offloader`'s processes (json, orjson and pydantic hold the
  GIL, so threads would not free the loop).
- Large bodies in flight (being read or prepared) may total `GATEWAY_LARGE_BODY_INFLIGHT_BYTES`;
  one beyond that gets a 429 in the client's shape with `retry-after`, as early as possible (on
  its `content-length`, before the body is read). A single body is always admitted when no
  other large one is in flight, so no body under the size limit is refused for its size alone.
- The body is read chunk by chunk (uvicorn hands over at most ~64 KiB at a time) into a list
  joined once: linear, and every chunk yields to the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from starlette.requests import Request

from gateway.errors import InvalidRequest, Overloaded, RateLimited
from gateway.media.prepare import NeedsWorker
from gateway.offload import Offloader
from kiroproto.models import ModelMap

T = TypeVar("T")

LARGE_BODY_RETRY_AFTER_S = 2.0


class BodyBudget:
    """Bytes of large bodies in flight on this replica (one per app; the loop is the only user)."""

    def __init__(self, *, threshold: int, cap: int) -> None:
        self.threshold = threshold
        self.cap = cap
        self.in_flight = 0

    def take(self, nbytes: int) -> None:
        """Count `nbytes` more, or `RateLimited` if that goes beyond the cap (nothing counted)."""
        if self.in_flight and self.in_flight + nbytes > self.cap:
            raise RateLimited(
                f"too many large request bodies in flight on this gateway ({self.in_flight} bytes)",
                retry_after=LARGE_BODY_RETRY_AFTER_S,
                close_connection=True,  # refused before the whole body was read
            )
        self.in_flight += nbytes

    def give_back(self, nbytes: int) -> None:
        self.in_flight = max(0, self.in_flight - nbytes)


class BodyTicket:
    """The part of the budget one request holds (released when its preparation ends)."""

    __slots__ = ("_budget", "held", "threshold")

    def __init__(self, budget: BodyBudget) -> None:
        self._budget = budget
        self.threshold = budget.threshold
        self.held = 0

    def grow_to(self, nbytes: int) -> None:
        if nbytes > self.held:
            self._budget.take(nbytes - self.held)
            self.held = nbytes

    def release(self) -> None:
        self._budget.give_back(self.held)
        self.held = 0


def declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def read_body(request: Request, ticket: BodyTicket) -> bytes:
    """The whole body; a large one is counted against the budget as early as it is known."""
    threshold = ticket.threshold
    declared = declared_length(request)
    if declared is not None and declared >= threshold:
        ticket.grow_to(declared)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        if chunk:
            chunks.append(chunk)
            received += len(chunk)
            if received >= threshold:
                ticket.grow_to(received)
    return b"".join(chunks)


def needs_worker(body: bytes, threshold: int) -> bool:
    """A large body, or one with base64 data (Anthropic `"type": "base64"` sources, OpenAI
    `data:...;base64,` URLs): a PDF or an image may need minutes of CPU, never on the loop."""
    return len(body) >= threshold or b"base64" in body


async def prepare(
    request: Request,
    budget: BodyBudget,
    offloader: Offloader,
    models: ModelMap,
    fn: Callable[[bytes, ModelMap], T],
) -> T:
    """Read the body and run `fn(body, models)`: inline when small, in a worker when large or
    when it carries base64 data (documents and images are read and fitted there, media/)."""
    ticket = BodyTicket(budget)
    try:
        body = await read_body(request, ticket)
        if not needs_worker(body, budget.threshold):
            try:
                return fn(body, models)
            except NeedsWorker:
                pass  # media work after all: in a worker, as below
        ticket.grow_to(len(body))
        try:
            return await offloader.run(fn, body, models)
        except BrokenProcessPool as exc:  # a worker died; the pool is renewed
            if b"base64" in body:  # most likely a decoder crash on the client's document or image
                raise InvalidRequest(
                    "a document or image in the request could not be processed (its decoder failed)"
                ) from exc
            raise Overloaded(
                "the request could not be processed (a worker process failed); retry", retry_after=1.0
            ) from exc
    finally:
        ticket.release()
