"""Helpers of the dashboard tests (imported by name: `conftest` is not importable across
services): the tokens, a uvicorn runner inside the test's loop, and the stand-in broker."""

from __future__ import annotations

import time
from typing import Any

import nats

from kiroproto.bus import (
    Ack,
    CredentialAction,
    CredentialStatus,
    CredentialStatusKind,
    PoolStatus,
    Subjects,
    UsageLimits,
)

ADMIN_TOKEN = "adm-" + "A1b2C3d4E5f6G7h8" * 2
CLIENT_TOKEN = "cli-" + "Z9y8X7w6V5u4T3s2" * 2


def make_status(cred_id: str, **changes: Any) -> CredentialStatus:
    base: dict[str, Any] = {
        "id": cred_id,
        "auth": "Social",
        "status": CredentialStatusKind.ACTIVE,
        "priority": 0,
        "in_flight": 1,
        "max_in_flight": 3,
        "access_token_fingerprint": "sha256:0123456789",
        "refresh_token_fingerprint": "sha256:9876543210",
        "access_expires_at": time.time() + 3000,
        "requests": 5,
        "errors": 1,
        "last_error": "upstream 429",
        "usage": UsageLimits(
            base_limit=50,
            base_used=10,
            free_trial_limit=500,
            free_trial_used=20,
            free_trial_active=True,
            bonus_limit=5,
            next_reset_at=time.time() + 86400 * 7,
        ),
        "region": "us-east-1",
    }
    base.update(changes)
    return CredentialStatus(**base)


class FakeBroker:
    """Answers `pool_status` and `credential_action` on the real NATS bus."""

    def __init__(self, nats_url: str, subjects: Subjects) -> None:
        self.nats_url = nats_url
        self.subjects = subjects
        self.creds: dict[str, CredentialStatus] = {}
        self.actions: list[CredentialAction] = []
        self.nc: Any = None
        self.pool_calls = 0

    async def start(self) -> None:
        self.nc = await nats.connect(self.nats_url)
        await self.nc.subscribe(self.subjects.pool_status, cb=self._pool)
        await self.nc.subscribe(self.subjects.credential_action, cb=self._action)

    async def stop(self) -> None:
        await self.nc.drain()

    async def _pool(self, msg: Any) -> None:
        self.pool_calls += 1
        creds = tuple(self.creds.values())
        status = PoolStatus(
            total=len(creds),
            active=sum(1 for c in creds if c.status == CredentialStatusKind.ACTIVE),
            in_flight=sum(c.in_flight for c in creds),
            credentials=creds,
            generated_at=time.time(),
        )
        await msg.respond(status.model_dump_json().encode())

    async def _action(self, msg: Any) -> None:
        action = CredentialAction.model_validate_json(msg.data)
        self.actions.append(action)
        cred = self.creds.get(action.credential_id)
        if cred is None:  # as the real broker answers (token_broker.admin.Admin.action)
            refused = Ack(ok=False, message=f"unknown credential {action.credential_id!r}")
            await msg.respond(refused.model_dump_json().encode())
            return
        if action.action == "disable":
            self.creds[cred.id] = cred.model_copy(
                update={"status": CredentialStatusKind.DISABLED, "reason": "disabled by an operator"}
            )
        elif action.action == "enable":
            self.creds[cred.id] = cred.model_copy(
                update={"status": CredentialStatusKind.ACTIVE, "reason": None}
            )
        elif action.action == "delete":
            del self.creds[cred.id]
        elif action.action == "set_priority":
            self.creds[cred.id] = cred.model_copy(update={"priority": action.priority})
        await msg.respond(Ack(ok=True).model_dump_json().encode())
