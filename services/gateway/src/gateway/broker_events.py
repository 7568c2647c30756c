"""A subscription to one of the broker's event subjects (`events_key`, `events_catalogue`).

Made on the broker client's current NATS connection when first asked for, and again only when
the client holds a new connection object (nats-py re-subscribes by itself after a reconnect).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.lease import BrokerClient

log = logging.getLogger(__name__)


class BrokerEvents:
    def __init__(
        self, broker: BrokerClient, subject: str, on_event: Callable[[Any], Awaitable[None]]
    ) -> None:
        self._broker = broker
        self._subject = subject
        self._on_event = on_event
        self._subscription: Any = None
        self._subscribed_on: Any = None

    async def subscribe(self) -> None:
        """Subscribe unless already subscribed on this connection (no-op while disconnected)."""
        nc = self._broker.nc
        if nc is None or nc is self._subscribed_on:
            return
        self._subscription = await nc.subscribe(self._subject, cb=self._on_event)
        self._subscribed_on = nc

    async def close(self) -> None:
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except Exception as exc:  # noqa: BLE001 - the connection may be closing already
                log.debug("%s unsubscribe failed: %s", self._subject, type(exc).__name__)
            self._subscription = None
