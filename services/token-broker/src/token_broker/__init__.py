"""Kiro2API token broker: the pool's credential state in Redis, leases over NATS.

Public API: `create_app(settings)` (the HTTP side and lifespan), `Broker` (one instance,
usable without HTTP), `Settings`.
"""

from __future__ import annotations

from token_broker.app import create_app
from token_broker.runtime import Broker
from token_broker.settings import Settings

__all__ = ["Broker", "Settings", "create_app"]
