"""`KeySpace`: the base of a service's Redis key builders. Every key a service writes lies under
`{KIRO_REDIS_PREFIX}:{area}:` (CONTRACTS.md); a subclass names its `area` and builds its keys
from `base`, and its module's docstring lists them (type, TTL, who writes them)."""

from __future__ import annotations

from typing import ClassVar


class KeySpace:
    __slots__ = ("base",)
    area: ClassVar[str]  # the part of the key after the deployment's prefix

    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}:{self.area}:"
