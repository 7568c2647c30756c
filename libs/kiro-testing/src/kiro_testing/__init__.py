"""Process helpers shared by tests, benchmarks, the chaos suite and `make run`.

Starts real `nats-server`, `redis-server` and Python services on free loopback ports,
waits for them to be ready, and stops, kills or restarts them on demand.
"""

from __future__ import annotations

from kiro_testing.processes import (
    ManagedProcess,
    NatsServer,
    PythonService,
    RedisServer,
    free_port,
    wait_http_ok,
    wait_tcp,
)

__all__ = [
    "ManagedProcess",
    "NatsServer",
    "PythonService",
    "RedisServer",
    "free_port",
    "wait_http_ok",
    "wait_tcp",
]
