"""Lifespan state as a typed object, and the dependency that hands it to routes.

The convention every service follows:

- the service declares one dataclass for what its lifespan opens (`GatewayState`,
  `BrokerState`, ...), mutable only where a test swaps a part;
- its lifespan builds it and a `health.Health`, and yields `lifespan_state(state, health)`
  (Starlette copies that mapping into every request's `scope["state"]`);
- its `deps.py` declares `State = Annotated[GatewayState, Depends(state_dependency(GatewayState))]`
  and routes take `state: State`; nothing reads `request.state` or `app.state` for shared parts
  (per-request values, such as a request id, stay in `request.state`);
- plain Starlette code (a non-FastAPI app) calls `service_state(request, Kind)`; raw ASGI
  middleware reads `find_state(scope["state"], Kind)`.

Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker
thread, a thread hop per dependency per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from starlette.requests import HTTPConnection

from kiro_service.health import HEALTH_KEY, Health

STATE_KEY = "kiro_service"

T = TypeVar("T")


def lifespan_state(state: object, health: Health) -> dict[str, Any]:
    """What a lifespan yields: the service's typed state and its `Health`."""
    return {STATE_KEY: state, HEALTH_KEY: health}


def find_state(mapping: Mapping[str, Any], kind: type[T]) -> T | None:
    """The service's state out of a lifespan (or request) state mapping, None before the
    lifespan ran (raw ASGI middleware that also runs for requests a test sends without one)."""
    value = mapping.get(STATE_KEY)
    return value if isinstance(value, kind) else None


def state_from(mapping: Mapping[str, Any], kind: type[T]) -> T:
    """The service's state out of a lifespan (or request) state mapping."""
    value = find_state(mapping, kind)
    if value is None:
        raise RuntimeError(f"no {kind.__name__} in the lifespan state (did the lifespan run?)")
    return value


def service_state(connection: HTTPConnection, kind: type[T]) -> T:
    """The service's state for this request or websocket."""
    return state_from(connection.scope.get("state", {}), kind)


def state_dependency(kind: type[T]) -> Callable[[HTTPConnection], Awaitable[T]]:
    """A FastAPI dependency returning the service's state: `Depends(state_dependency(Kind))`."""

    async def dependency(connection: HTTPConnection) -> T:
        return service_state(connection, kind)

    dependency.__name__ = f"get_{kind.__name__}"
    return dependency
