"""How a service authenticates to NATS and encrypts the connection (README "Security").

Credentials travel in `NATS_URL` itself: `nats://USER:PASSWORD@host:4222` (one NATS user per
service, with subject permissions), or `nats://TOKEN@host:4222`. TLS: a `tls://` URL, with
`NATS_TLS_CA_FILE` naming the CA that signed the server's certificate (else the system store),
and `NATS_TLS_CERT_FILE` / `NATS_TLS_KEY_FILE` for a client certificate when the server asks.

Every service uses its own reply-inbox prefix (`_INBOX.<service>`): NATS permissions then let a
service receive the replies to its own requests and nothing else (the dashboard's user cannot
subscribe to the gateway's inboxes, where lease replies with access tokens arrive).

Redis needs nothing here: `REDIS_URL` carries the ACL user and password
(`redis://USER:PASSWORD@host:6379/0`), and TLS is `rediss://` with the CA and client
certificate as URL parameters (`?ssl_ca_certs=/path/ca.pem&ssl_certfile=...&ssl_keyfile=...`).

`connect_nats` is the one `nats.connect()` of the services: these options, reconnecting forever
every 0.5 s, the connection's changes reported to a `NatsEvents`. `kiro_service.bus.BusClient`
connects through it (and retries the first connection in the background); so does the broker.
"""

from __future__ import annotations

import ssl
from typing import Any, Protocol

import nats
from nats.aio.client import Client as NatsClient
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_INBOXES = {
    "gateway": "_INBOX.gateway",
    "broker": "_INBOX.broker",
    "dashboard": "_INBOX.dashboard",
    "oauth": "_INBOX.oauth",
}


class NatsTlsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    nats_tls_ca_file: str | None = None
    nats_tls_cert_file: str | None = None
    nats_tls_key_file: str | None = None


def nats_tls_context(settings: NatsTlsSettings | None = None) -> ssl.SSLContext | None:
    """A client TLS context from the settings, or None when none is configured."""
    s = settings if settings is not None else NatsTlsSettings()
    ca = (s.nats_tls_ca_file or "").strip() or None
    cert = (s.nats_tls_cert_file or "").strip() or None
    key = (s.nats_tls_key_file or "").strip() or None
    if ca is None and cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


def nats_options(service: str, settings: NatsTlsSettings | None = None) -> dict[str, Any]:
    """Extra `nats.connect()` keywords for `service`: its inbox prefix and the TLS context."""
    options: dict[str, Any] = {"inbox_prefix": SERVICE_INBOXES[service]}
    context = nats_tls_context(settings)
    if context is not None:
        options["tls"] = context
    return options


class NatsEvents(Protocol):
    """What a connection's owner hears of it (nats-py's callbacks)."""

    async def on_disconnected(self) -> None: ...

    async def on_reconnected(self) -> None: ...

    async def on_closed(self) -> None: ...

    async def on_error(self, exc: Exception) -> None: ...


async def connect_nats(
    url: str,
    service: str,
    events: NatsEvents,
    *,
    name: str | None = None,
    settings: NatsTlsSettings | None = None,
) -> NatsClient:
    """Connect as `service` (`nats_options`); once connected, reconnect forever every 0.5 s.

    Raises what `nats.connect` raises when the first connection fails (the caller decides
    whether to retry). `name` is the client name the server shows (default `kiro-<service>`).
    """
    return await nats.connect(
        url,
        name=name or f"kiro-{service}",
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        disconnected_cb=events.on_disconnected,
        reconnected_cb=events.on_reconnected,
        closed_cb=events.on_closed,
        error_cb=events.on_error,
        **nats_options(service, settings),
    )
