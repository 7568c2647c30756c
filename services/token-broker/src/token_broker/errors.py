"""Broker exceptions.

```
BrokerError
 ├── ConfigError              bad configuration found at start
 ├── SecretDecryptError       a sealed secret does not open with KIRO_SECRET_KEY
 ├── UnknownCredential        an admin action or release names no stored credential
 ├── RefreshError             a token refresh failed (`permanent`: the credential is invalid)
 ├── UsageCheckError          getUsageLimits failed (no token, HTTP error, unreadable body)
 └── InvalidBusRequest        a well-formed request the broker refuses (answered `400`)
```

Handlers on the bus translate these once, at the boundary, into replies (`Ack(ok=False)`,
`CredentialAddResult(ok=False)`) or nats.micro service errors.
"""

from __future__ import annotations


class BrokerError(Exception):
    """Root of the broker's own errors."""


class ConfigError(BrokerError):
    pass


class SecretDecryptError(BrokerError):
    pass


class UnknownCredential(BrokerError):
    def __init__(self, credential_id: str) -> None:
        super().__init__(f"unknown credential {credential_id!r}")
        self.credential_id = credential_id


class RefreshError(BrokerError):
    """`reason` is a short code (invalid_grant, http_500, network, ...), free of secrets."""

    def __init__(self, reason: str, detail: str = "", *, permanent: bool = False) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.permanent = permanent


class UsageCheckError(BrokerError):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class InvalidBusRequest(BrokerError):
    """A request that parses but cannot be served (a usage query over too many days, ...)."""
