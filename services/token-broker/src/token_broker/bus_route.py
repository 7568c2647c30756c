"""A bus endpoint of the table bound to the broker function that answers it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from kiroproto.bus import Endpoint

Req = TypeVar("Req", bound=BaseModel)
Rep = TypeVar("Rep", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Route(Generic[Req, Rep]):
    """`answer` takes the endpoint's request model and returns its reply model (checked by mypy)."""

    endpoint: Endpoint[Req, Rep]
    answer: Callable[[Req], Awaitable[Rep]]


AnyRoute = Route[Any, Any]


def route(endpoint: Endpoint[Req, Rep], answer: Callable[[Req], Awaitable[Rep]]) -> AnyRoute:
    """Bind `answer` to `endpoint`; mypy refuses a function of other request or reply types."""
    return Route(endpoint, answer)
