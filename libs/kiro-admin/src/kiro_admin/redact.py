"""Last line of defence against secrets in what the admin services serve or log.

The broker already sends fingerprints only; this scrubs anything that still looks like a Kiro
access / refresh token (`aoa...` / `aor...`), a JWT, a long opaque token, or equals one of the
configured secrets (admin and client keys), from every string of an outgoing JSON document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
_PATTERNS = re.compile(
    r"(?:\bao[ar][A-Za-z0-9_\-+/=]{16,})"  # Kiro access / refresh tokens
    r"|(?:\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*)"  # JWTs (idToken)
    r"|(?:[A-Za-z0-9_\-+/]{64,}={0,2})"  # any long opaque token or secret
)


class Redactor:
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = tuple(sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True))

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return _PATTERNS.sub(REDACTED, value)

    def scrub(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string passed through `text`."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.scrub(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(item) for item in value]
        return value
