"""Helpers of the oauth tests (imported by name: `conftest` is not importable across services):
the admin token, a uvicorn runner inside the test's loop, and the stand-in broker."""

from __future__ import annotations

from typing import Any

import nats

from kiroproto.bus import CredentialAdd, CredentialAddResult, Subjects

ADMIN_TOKEN = "adm-" + "Q1w2E3r4T5y6U7i8" * 2


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
