"""What the admin services keep in Redis, sealed with `KIRO_SECRET_KEY` (AES-GCM) when one is set.

A sealed value is `enc:v1:` + base64url(nonce || ciphertext+tag); the associated data binds it to
where it is kept (the Redis key name, or a fixed label), so a value copied to another key does
not open. Without a key, values are kept as they are; a sealed value then does not open.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_MARK = "enc:v1:"


class Sealer:
    def __init__(self, key: bytes | None) -> None:
        self._aead = AESGCM(key) if key is not None else None

    @property
    def enabled(self) -> bool:
        return self._aead is not None

    def seal(self, text: str, aad: str) -> str:
        if self._aead is None:
            return text
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, text.encode(), aad.encode())
        return _MARK + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, text: str, aad: str) -> str | None:
        """The plain text; a value kept unsealed as it is; None when it does not open here."""
        if not text.startswith(_MARK):
            return text
        if self._aead is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(text[len(_MARK) :])
            return self._aead.decrypt(raw[:12], raw[12:], aad.encode()).decode()
        except (InvalidTag, ValueError):
            return None
