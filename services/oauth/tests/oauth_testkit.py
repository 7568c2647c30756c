"""Helpers of the oauth tests (imported by name: `conftest` is not importable across services):
the admin token, a uvicorn runner inside the test's loop, and the stand-in broker."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import nats
import uvicorn
from fastapi import FastAPI

from kiro_testing import free_port
from kiroproto.bus import CredentialAdd, CredentialAddResult, Subjects

ADMIN_TOKEN = "adm-" + "Q1w2E3r4T5y6U7i8" * 2


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test runner owns the signals
        yield


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    server = _Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 15
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped before it started")
        if time.monotonic() > deadline:
            raise TimeoutError("server did not start")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


class FakeBroker:
    """Answers `credential_add` on the real bus; `reject` makes it refuse with a reason."""

    def __init__(self, nats_url: str, subjects: Subjects) -> None:
        self.nats_url = nats_url
        self.subjects = subjects
        self.added: list[CredentialAdd] = []
        self.reject: str | None = None
        self.nc: Any = None

    async def start(self) -> None:
        self.nc = await nats.connect(self.nats_url)
        await self.nc.subscribe(self.subjects.credential_add, cb=self._add)

    async def stop(self) -> None:
        await self.nc.drain()

    async def _add(self, msg: Any) -> None:
        request = CredentialAdd.model_validate_json(msg.data)
        self.added.append(request)
        if self.reject:
            reply = CredentialAddResult(ok=False, message=self.reject)
        else:
            reply = CredentialAddResult(ok=True, credential_id=request.credential.identity)
        await msg.respond(reply.model_dump_json().encode())
