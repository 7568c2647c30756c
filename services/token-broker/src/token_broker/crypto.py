"""Secrets at rest: AES-GCM with `KIRO_SECRET_KEY`, or plain text when no key is set.

A sealed value is `enc:v1:` + urlsafe base64 of (12-byte nonce || ciphertext+tag). The
credential id and field name are the associated data, so a ciphertext cannot be moved to
another credential or field. Values without the marker are read as plain text, so a pool
written before a key was configured keeps working (and is re-sealed on its next write).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from token_broker.errors import SecretDecryptError

_MARK = "enc:v1:"
_NONCE = 12


class SecretBox:
    __slots__ = ("_aead",)

    def __init__(self, key: bytes | None) -> None:
        self._aead = AESGCM(key) if key is not None else None

    @property
    def encrypting(self) -> bool:
        return self._aead is not None

    @staticmethod
    def is_sealed(value: str) -> bool:
        return value.startswith(_MARK)

    def seal(self, value: str, credential_id: str, field: str) -> str:
        if self._aead is None or not value:
            return value
        nonce = os.urandom(_NONCE)
        ct = self._aead.encrypt(nonce, value.encode("utf-8"), _aad(credential_id, field))
        return _MARK + base64.urlsafe_b64encode(nonce + ct).decode("ascii")

    def open(self, value: str, credential_id: str, field: str) -> str:
        if not value.startswith(_MARK):
            return value
        if self._aead is None:
            raise SecretDecryptError(f"{field} of {credential_id} is encrypted and KIRO_SECRET_KEY is unset")
        try:
            raw = base64.urlsafe_b64decode(value[len(_MARK) :])
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _aad(credential_id, field))
        except (InvalidTag, ValueError) as exc:
            raise SecretDecryptError(
                f"{field} of {credential_id} does not decrypt with KIRO_SECRET_KEY"
            ) from exc
        return plain.decode("utf-8")


def _aad(credential_id: str, field: str) -> bytes:
    return f"{credential_id}\x00{field}".encode()
