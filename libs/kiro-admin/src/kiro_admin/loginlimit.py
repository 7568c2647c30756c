"""Sign-in attempts per client address (`POST /api/login`), counted in Redis so that every
dashboard replica shares the count.

Failed attempts are counted in a fixed window (`DASHBOARD_LOGIN_WINDOW`, started by the first
failure); once `DASHBOARD_LOGIN_ATTEMPTS` failed, every attempt from that address, right or
wrong, gets 429 with `retry-after` until the window ends (answering a right key while blocked
would keep the guessing going). Successful sign-ins are not counted.

Redis key: `keys.AdminKeys.login_failures`, an integer with the window's TTL; an IPv6
client counts by its /64 (one host is usually given a whole /64 to pick addresses from).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import KW_ONLY, dataclass

from redis.asyncio import Redis

from kiro_admin.keys import AdminKeys


@dataclass(frozen=True, slots=True)
class LoginLimiter:
    redis: Redis
    keys: AdminKeys
    _: KW_ONLY
    attempts: int
    window_s: float

    def _key(self, address: str) -> str:
        return self.keys.login_failures(bucket(address))

    async def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None when it may try now."""
        key = self._key(address)
        failures = await self.redis.get(key)
        if failures is None or int(failures) < self.attempts:
            return None
        ttl_ms = await self.redis.pttl(key)
        return max(1, math.ceil(ttl_ms / 1000)) if ttl_ms > 0 else 1

    async def failed(self, address: str) -> None:
        key = self._key(address)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=max(1, math.ceil(self.window_s)), nx=True)
            pipe.incr(key)
            await pipe.execute()


def bucket(address: str) -> str:
    """What one client is counted as: the address, or its /64 for IPv6."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
