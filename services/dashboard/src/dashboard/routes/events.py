"""`GET /api/events`: the live feed as server-sent events (`pool`, `traffic`, `credential`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from dashboard.deps import Admin, AppState
from dashboard.live import LiveHub

router = APIRouter(prefix="/api")


async def _stream(hub: LiveHub, keepalive_s: float) -> AsyncIterator[bytes]:
    queue = hub.subscribe()
    try:
        yield b"retry: 2000\n\n"
        while not hub.closing:
            try:
                message = await asyncio.wait_for(queue.get(), timeout=keepalive_s)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if message is None:  # the service is shutting down: the browser reconnects elsewhere
                return
            yield message.encode()
    finally:
        hub.unsubscribe(queue)


@router.get("/events")
async def events(state: AppState, _admin: Admin) -> StreamingResponse:
    return StreamingResponse(
        _stream(state.hub, state.settings.dashboard_sse_keepalive),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
