"""Outbound HTTP: one shared `httpx.AsyncClient` per egress (direct, or each proxy of the pool).

Each credential always leaves through the same proxy (`kiroproto.upstream.assign_proxy`), so
the clients are keyed by proxy URL and created on first use. Timeouts are explicit.
"""

from __future__ import annotations

import httpx

_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=10, keepalive_expiry=30.0)


class HttpClients:
    def __init__(self, timeout_s: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._timeout = httpx.Timeout(timeout_s, connect=min(5.0, timeout_s))
        self._transport = transport  # tests: httpx.MockTransport
        self._clients: dict[str | None, httpx.AsyncClient] = {}

    def get(self, proxy: str | None) -> httpx.AsyncClient:
        client = self._clients.get(proxy)
        if client is None:
            client = httpx.AsyncClient(
                timeout=self._timeout,
                limits=_LIMITS,
                proxy=proxy if self._transport is None else None,
                transport=self._transport,
                follow_redirects=False,
            )
            self._clients[proxy] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
