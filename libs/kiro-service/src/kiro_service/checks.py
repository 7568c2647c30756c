"""Readiness checks for `health.Health`, one per dependency a service's `/readyz` covers.

Each returns a `ReadinessCheck` bound to the connection the lifespan opened; the reason of a
failed check is what `/readyz` answers (`{"status": "not_ready", "reason": "NATS not connected"}`).
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from kiro_service.bus import BusClient
from kiro_service.health import Readiness, ReadinessCheck


def bus_ready(bus: BusClient) -> ReadinessCheck:
    """Ready while the bus client is connected to NATS (not reconnecting, draining or closed)."""

    async def check() -> Readiness:
        return Readiness.ok() if bus.connected else Readiness.failed("NATS not connected")

    return check


def redis_ready(redis: Redis) -> ReadinessCheck:
    """Ready when Redis answers one PING."""

    async def check() -> Readiness:
        try:
            answered = bool(await redis.ping())
        except RedisError:
            answered = False
        return Readiness.ok() if answered else Readiness.failed("Redis not answering")

    return check
