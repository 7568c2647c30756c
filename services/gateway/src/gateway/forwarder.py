"""Forwarding of the dashboard and OAuth paths (`/`, `/oauth*`, `/api/*`, static assets) to
their services, so that everything is reachable on one origin under `make run`.

A small streaming reverse proxy that behaves like a trusted edge proxy (nginx, Envoy, Caddy):
- it keeps no state between requests: no cookie jar (a `Set-Cookie` goes to the browser that
  asked and nowhere else; each request carries only its own `Cookie` header);
- it forwards exactly the path it routed on (`forward_path.check_path`: ambiguous paths such as
  dot-segments, `//`, control characters are a 400, never normalised differently here and there);
  `/metrics`, `/healthz`, `/readyz` and their variants are never forwarded (each service answers
  its own);
- hop-by-hop headers are dropped both ways, `x-forwarded-for` is replaced by the client address
  this server resolved (uvicorn applies `FORWARDED_ALLOW_IPS` to the peer first), the upstream's
  `date` / `server` are dropped (uvicorn writes its own: one `date` header);
- a `Location` pointing at a service's internal address is rewritten to the public origin.
Enabled per target by `GATEWAY_DASHBOARD_URL` / `GATEWAY_OAUTH_URL`; unset → 404. `/v1/*` is
never forwarded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookiejar import Cookie, CookieJar
from typing import Any

import httpx
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from gateway.errors import InvalidRequest, NotFound, Overloaded, RequestTooLarge
from gateway.forward_path import BadPath, check_path, is_service_local

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
# Set here from this request alone, never passed through from the client. A declared
# `content-length` is passed on (the service can refuse an oversized body before reading it).
_REQUEST_DROP = _HOP_BY_HOP | {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded"}
# Written by this server's own HTTP layer (the body is streamed: no content-length either).
_RESPONSE_DROP = _HOP_BY_HOP | {"date", "server", "content-length"}


# What a service that answered and closed while the body was still being sent looks like.
_CUT_OFF = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


class NoCookieJar(CookieJar):
    """A cookie jar that never stores anything: the forwarder is shared by every client."""

    def set_cookie(self, cookie: Cookie) -> None:
        return None

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


class Forwarder:
    def __init__(self, *, dashboard_url: str | None, oauth_url: str | None, timeout: float = 60.0) -> None:
        self._dashboard = dashboard_url.rstrip("/") if dashboard_url else None
        self._oauth = oauth_url.rstrip("/") if oauth_url else None
        self._origins = tuple(_origin(url) for url in (self._dashboard, self._oauth) if url)
        self._client: httpx.AsyncClient | None = None
        self._timeout = httpx.Timeout(timeout, connect=5.0)

    def target_for(self, path: str) -> str | None:
        if path == "/v1" or path.startswith("/v1/") or is_service_local(path):
            return None
        if path.startswith("/oauth"):
            return self._oauth
        return self._dashboard

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout, trust_env=False, follow_redirects=False, cookies=NoCookieJar()
            )
        return self._client

    async def forward(self, request: Request) -> Response:
        path = request.url.path
        try:
            checked = check_path(request.scope["path"], _raw_path(request))
        except BadPath as exc:
            raise InvalidRequest(str(exc)) from exc
        target = self.target_for(checked.path)
        if target is None:
            raise NotFound(f"no route for {request.method} {path}")
        named = _listed_in_connection(request.headers.get("connection"))
        headers = [
            (k, v)
            for k, v in request.headers.items()
            if k.lower() not in _REQUEST_DROP and k.lower() not in named
        ]
        has_body = request.method not in ("GET", "HEAD", "OPTIONS")
        if not has_body or "transfer-encoding" in request.headers:  # no body, or forwarded chunked
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers += [
            ("x-forwarded-for", request.client.host if request.client else ""),
            ("x-forwarded-proto", request.url.scheme),
            ("x-forwarded-host", request.headers.get("host", "")),
        ]
        query = request.scope.get("query_string", b"")
        raw = checked.raw + (b"?" + query if query else b"")
        url = httpx.URL(target).copy_with(raw_path=raw)
        client = self._http()
        disconnected = body_done = False

        async def body() -> AsyncIterator[bytes]:
            nonlocal disconnected, body_done
            try:
                async for chunk in request.stream():
                    yield chunk
            except ClientDisconnect:
                disconnected = True
                raise
            body_done = True

        upstream_request = client.build_request(
            request.method, url, headers=headers, content=body() if has_body else None
        )
        try:
            upstream = await client.send(upstream_request, stream=True)
        except ClientDisconnect:
            raise
        except httpx.TransportError as exc:
            if disconnected:
                raise ClientDisconnect() from exc
            if has_body and not body_done and isinstance(exc, _CUT_OFF):
                # The service answered and closed before reading the whole body: the admin
                # services do that only for a body over their cap (its 413 is lost in the reset).
                raise RequestTooLarge(f"{path}: the request body is larger than the service accepts") from exc
            raise Overloaded(
                f"{path} is served by a service that is not reachable now", retry_after=2.0
            ) from exc
        except Exception:
            if disconnected:
                raise ClientDisconnect() from None
            raise
        response = StreamingResponse(
            upstream.aiter_raw(), status_code=upstream.status_code, background=BackgroundTask(upstream.aclose)
        )
        named = _listed_in_connection(upstream.headers.get("connection"))
        response.raw_headers = [
            (k.encode("latin-1"), (self._public_location(v) if k == "location" else v).encode("latin-1"))
            for k, v in ((k.lower(), v) for k, v in upstream.headers.multi_items())
            if k not in _RESPONSE_DROP and k not in named
        ]
        return response

    def _public_location(self, value: str) -> str:
        """`http://127.0.0.1:8083/x` (a service's own address) → `/x` on the public origin."""
        lowered = value.lower()
        for origin in self._origins:
            if lowered == origin or lowered.startswith((origin + "/", origin + "?")):
                rest = value[len(origin) :]
                return rest if rest.startswith("/") else "/" + rest
        return value

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}".lower()


def _raw_path(request: Request) -> bytes | None:
    raw = request.scope.get("raw_path")
    if not isinstance(raw, bytes):
        return None
    return raw.split(b"?", 1)[0]


def _listed_in_connection(value: str | None) -> frozenset[str]:
    """Headers named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1)."""
    if not value:
        return frozenset()
    return frozenset(name.strip().lower() for name in value.split(","))
