"""Forwarding of the dashboard and OAuth paths (`/`, `/oauth*`, `/api/*`, static assets) to
their services, so that everything is reachable on one origin under `make run`.

A small streaming reverse proxy: request and response bodies are streamed, hop-by-hop headers
dropped, `x-forwarded-*` added. Enabled per target by `GATEWAY_DASHBOARD_URL` /
`GATEWAY_OAUTH_URL`; unset → the caller answers 404. `/v1/*` is never forwarded.
"""

from __future__ import annotations

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.errors import NotFound, Overloaded

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


class Forwarder:
    def __init__(self, *, dashboard_url: str | None, oauth_url: str | None, timeout: float = 60.0) -> None:
        self._dashboard = dashboard_url.rstrip("/") if dashboard_url else None
        self._oauth = oauth_url.rstrip("/") if oauth_url else None
        self._client: httpx.AsyncClient | None = None
        self._timeout = httpx.Timeout(timeout, connect=5.0)

    def target_for(self, path: str) -> str | None:
        if path == "/v1" or path.startswith("/v1/"):
            return None
        if path == "/oauth" or path.startswith("/oauth"):
            return self._oauth
        return self._dashboard

    async def forward(self, request: Request) -> Response:
        path = request.url.path
        target = self.target_for(path)
        if target is None:
            raise NotFound(f"no route for {request.method} {path}")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, trust_env=False, follow_redirects=False)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        client_host = request.client.host if request.client else ""
        headers += [
            ("x-forwarded-for", client_host),
            ("x-forwarded-proto", request.url.scheme),
            ("x-forwarded-host", request.headers.get("host", "")),
        ]
        url = target + path + (f"?{request.url.query}" if request.url.query else "")
        has_body = request.method not in ("GET", "HEAD", "OPTIONS")
        upstream_request = self._client.build_request(
            request.method, url, headers=headers, content=request.stream() if has_body else None
        )
        try:
            upstream = await self._client.send(upstream_request, stream=True)
        except httpx.TransportError as exc:
            raise Overloaded(
                f"{path} is served by a service that is not reachable now", retry_after=2.0
            ) from exc
        response = StreamingResponse(
            upstream.aiter_raw(), status_code=upstream.status_code, background=BackgroundTask(upstream.aclose)
        )
        response.raw_headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in upstream.headers.multi_items()
            if k.lower() not in _HOP_BY_HOP
        ]
        return response

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
