"""Earlier media conversions, by content digest, so a conversation's history is not redone.

Clients re-send the whole conversation on every turn: a screenshot or a PDF read three turns
ago comes again, and would be scaled or read again in a worker. `MediaCache` keeps the results
(a `FittedImage` or a `PdfReading`) under the SHA-256 of what was sent, least recently used
first out, within `max_bytes` of result data. Identical input gives identical output, so
sharing entries between clients reveals nothing a client did not send itself.

One per gateway process, on the lifespan state; not thread-safe (the event loop's only).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Literal

from gateway.media.images import FittedImage
from gateway.media.pdf import PdfReading

Kind = Literal["image", "pdf"]
Entry = FittedImage | PdfReading

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def digest(kind: Kind, data: str) -> bytes:
    """The cache key of base64 `data` (run it in a thread for large data: hashlib frees the GIL)."""
    return hashlib.sha256(kind.encode() + b"\0" + data.encode("ascii", "replace")).digest()


def _size(entry: Entry) -> int:
    if isinstance(entry, FittedImage):
        return len(entry.data) + 256
    return 256 + sum(len(page.text) * 2 + (len(page.image.data) if page.image else 0) for page in entry.pages)


class MediaCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, tuple[Entry, int]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes) -> Entry | None:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return found[0]

    def put(self, key: bytes, entry: Entry) -> None:
        size = _size(entry)
        if size > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._entries[key] = (entry, size)
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._bytes -= evicted

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes


__all__ = ["DEFAULT_MAX_BYTES", "MediaCache", "digest"]
