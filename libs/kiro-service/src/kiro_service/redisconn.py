"""The Redis client options of the services (`redis.asyncio`), once (`busconn` is NATS's).

- `CLIENT_OPTIONS`: string replies, 5 s socket and connect timeouts, a PING on a connection
  idle for 30 s before it is used;
- `command_retry()`: a pooled connection's dead socket is replaced and the command sent again,
  up to three times with a short jittered backoff. `from_url` gives connections no retry at
  all: after a Redis restart every pooled connection then failed its next command (a 529 for
  a client, seconds later; the chaos suite showed it for the broker).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

CLIENT_OPTIONS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "decode_responses": True,
        "socket_timeout": 5.0,
        "socket_connect_timeout": 5.0,
        "health_check_interval": 30,
    }
)


def command_retry() -> Retry:
    """A fresh retry policy (each client gets its own)."""
    return Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.25), 3)
