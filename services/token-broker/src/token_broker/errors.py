"""The token broker's own exceptions (server side; clients of the bus see bus errors instead).

```
TokenBrokerError
 ├── ConfigError              bad configuration found at start
 ├── SecretDecryptError       a sealed secret does not open with KIRO_SECRET_KEY
 ├── UnknownCredential        an admin action or release names no stored credential
 ├── RefreshError             a token refresh failed (`permanent`: the credential is invalid)
 ├── KiroApiError             a runtime API read failed (getUsageLimits, ListAvailableModels:
 │                            no token, HTTP error, unreadable body)
 └── InvalidBusRequest        a well-formed request the broker refuses (answered `400`)
```

Handlers on the bus translate these once, at the boundary, into replies (`Ack(ok=False)`,
`CredentialAddResult(ok=False)`) or nats.micro service errors.
"""

from __future__ import annotations


class TokenBrokerError(Exception):
    """Root of the broker's own errors (not the bus client's tree: those travel as replies)."""


class ConfigError(TokenBrokerError):
    pass


class SecretDecryptError(TokenBrokerError):
    pass


class UnknownCredential(TokenBrokerError):
    def __init__(self, credential_id: str) -> None:
        super().__init__(f"unknown credential {credential_id!r}")
        self.credential_id = credential_id


class RefreshError(TokenBrokerError):
    """`reason` is a short code (invalid_grant, http_500, network, ...), free of secrets."""

    def __init__(self, reason: str, detail: str = "", *, permanent: bool = False) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.permanent = permanent


class KiroApiError(TokenBrokerError):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class InvalidBusRequest(TokenBrokerError):
    """A request that parses but cannot be served (a usage query over too many days, ...)."""
