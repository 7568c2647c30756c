"""`KeySpace`: the base of a service's Redis key builders. Every key a service writes lies under
`{KIRO_REDIS_PREFIX}:{area}:` (CONTRACTS.md); a subclass names its `area` and builds its keys
from `base`, and its module's docstring lists them (type, TTL, who writes them).

A subclass declares a key with a fixed name as a `Key` (`creds = Key("creds")` reads
`{base}creds`), and keys of one kind, one per id, as a `KeyFamily` (`cred = KeyFamily("cred:")`:
`keys.cred(id)` is `{base}cred:{id}`, `keys.cred.prefix` is `{base}cred:`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


class KeySpace:
    __slots__ = ("base",)
    area: ClassVar[str]  # the part of the key after the deployment's prefix

    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}:{self.area}:"


class Key:
    """A key with a fixed name, declared on a `KeySpace` subclass: a `str` on its instances."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, space: KeySpace, owner: type[KeySpace] | None = None) -> str:
        return space.base + self.name


class KeyFamily:
    """Keys of one kind, one per id, declared on a `KeySpace` subclass: a `KeyPrefix` on its
    instances."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __get__(self, space: KeySpace, owner: type[KeySpace] | None = None) -> KeyPrefix:
        return KeyPrefix(space.base + self.kind)


@dataclass(frozen=True, slots=True)
class KeyPrefix:
    """The keys of one family: called with an id, that id's key; `prefix` for a script that
    builds them itself."""

    prefix: str

    def __call__(self, ident: str) -> str:
        return self.prefix + ident
