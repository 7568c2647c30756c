"""Publishing on the bus: credential status changes (`events_credential`), lease releases
(`events_lease`, which wake brokers that wait for a free slot) and the pool becoming full
(`events_pool`, which stops the gateways' slot reuse)."""

from __future__ import annotations

import logging
import time
from typing import Any

from kiroproto.bus import (
    CatalogueEvent,
    CredentialEvent,
    CredentialStatusKind,
    LeaseEvent,
    PoolEvent,
    Subjects,
)

log = logging.getLogger(__name__)


class EventPublisher:
    def __init__(self, nc: Any, subjects: Subjects) -> None:
        self._nc = nc
        self._subjects = subjects

    async def credential(self, credential_id: str, status: str, reason: str | None = None) -> None:
        event = CredentialEvent(
            credential_id=credential_id,
            status=CredentialStatusKind(status),
            reason=reason or None,
            at=time.time(),
        )
        log.info(
            "credential status",
            extra={"credential": credential_id, "status": event.status.value, "reason": event.reason},
        )
        await self._publish(self._subjects.events_credential, event.model_dump_json().encode())

    async def lease_released(self, credential_id: str) -> None:
        event = LeaseEvent(credential_id=credential_id, at=time.time())
        await self._publish(self._subjects.events_lease, event.model_dump_json().encode())

    async def pool_waiting(self) -> None:
        """A lease request waits for a full pool: gateways stop reusing the slots they hold."""
        event = PoolEvent(at=time.time())
        await self._publish(self._subjects.events_pool, event.model_dump_json().encode())

    async def catalogue(self, credential_id: str) -> None:
        """An account's model set changed: gateways refetch the pool's models."""
        event = CatalogueEvent(credential_id=credential_id, at=time.time())
        await self._publish(self._subjects.events_catalogue, event.model_dump_json().encode())

    async def _publish(self, subject: str, data: bytes) -> None:
        try:
            await self._nc.publish(subject, data)
        except Exception as exc:  # noqa: BLE001 - events are best effort; state lives in Redis
            log.warning("event not published on %s: %s", subject, type(exc).__name__)
