"""The Kiro HTTP call and the classification of its failures (kiro-protocol.md §2, §8).

Direct egress goes through `h1.H1Transport` (a lean keep-alive HTTP/1.1 pool: profiling showed
httpx costing ~0.8 ms of CPU per call, README "Performance"); each `PROXY_POOL` / credential
proxy gets a pooled `httpx.AsyncClient`. Keep-alive, explicit timeouts, no environment proxies.
`open_chat` returns a 200 response whose body is still unread, or raises `UpstreamFailure` with
a `Failure` that says which outcome to report to the broker and whether another attempt may help.

`classify_http` and `classify_exception` are pure functions (status + body → failure class),
tested directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import orjson

from gateway.errors import ContextTooLong, GatewayError, InvalidRequest
from gateway.h1 import H1Transport
from gateway.settings import Settings
from kiroproto.bus import LeaseGrant, Outcome
from kiroproto.eventstream import HeaderCache
from kiroproto.upstream import assign_proxy, base_url, chat_headers
from kiroproto.websearch import MCP_PATH, mcp_headers

CHAT_PATH = "/generateAssistantResponse"
_ERROR_BODY_LIMIT = 64 * 1024
_MCP_BODY_LIMIT = 4 * 1024 * 1024
_SUSPENDED = re.compile(r"suspend|security precaution|locked|TEMPORARILY_SUSPENDED", re.IGNORECASE)
_CONTEXT = re.compile(r"CONTENT_LENGTH_EXCEEDS_THRESHOLD|Input is too long", re.IGNORECASE)
_SUSPICIOUS = re.compile(r"suspicious activity", re.IGNORECASE)
# The reason table of reference §19.3: quota (park), model capacity (no penalty to the account).
QUOTA_REASONS = frozenset(
    {
        "MONTHLY_REQUEST_COUNT",
        "OVERAGE_REQUEST_LIMIT_EXCEEDED",
        "CONVERSATION_LIMIT_EXCEEDED",
        "DAILY_REQUEST_COUNT",
    }
)
CAPACITY_REASONS = frozenset(
    {"INSUFFICIENT_MODEL_CAPACITY", "SERVICE_REQUEST_RATE_EXCEEDED", "MODEL_TEMPORARILY_UNAVAILABLE"}
)


@dataclass(frozen=True, slots=True)
class Failure:
    """How one upstream attempt failed."""

    outcome: Outcome
    retry: bool  # another attempt (refreshed token or another credential) may succeed
    message: str
    status_code: int | None = None
    retry_after_s: float | None = None
    client_error: GatewayError | None = None  # what the client gets when there is no retry
    signature_invalid: bool = False  # THINKING_SIGNATURE_INVALID: retry once without history reasoning
    reason: str | None = None  # the upstream's `reason` (reference §19.3)


class UpstreamFailure(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def _parse_error_body(body: bytes) -> tuple[str, str]:
    """(message, reason) from `{"message","reason"}` or `{"__type","message"}` or plain text."""
    text = body[:2000].decode("utf-8", "replace").strip()
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        nested = data.get("error")
        inner: dict[str, object] = nested if isinstance(nested, dict) else data
        message = str(inner.get("message") or inner.get("Message") or "")
        reason = str(inner.get("reason") or inner.get("__type") or "")
        return (message or text)[:500], reason
    return text[:500], ""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _known_reason(reason: str, text: str) -> str | None:
    """The §19.3 reason named in the body's `reason` field (or, failing that, in its text)."""
    if reason in QUOTA_REASONS or reason in CAPACITY_REASONS:
        return reason
    return next((r for r in (*QUOTA_REASONS, *CAPACITY_REASONS) if r in text), None)


def classify_http(status: int, body: bytes, retry_after: str | None = None) -> Failure:
    """Failure class of a non-200 chat answer (§8.2/§8.3, the reason table of §19.3)."""
    message, reason = _parse_error_body(body)
    both = f"{message} {reason}"
    detail = f"upstream {status}: {message}" if message else f"upstream {status}"
    after = _retry_after(retry_after)
    known = _known_reason(reason, both)
    if status >= 429 and known in CAPACITY_REASONS:
        return Failure(Outcome.MODEL_CAPACITY, True, detail, status, retry_after_s=after, reason=known)
    if status == 400:
        if _CONTEXT.search(both) or _CONTEXT.search(body[:2000].decode("utf-8", "replace")):
            return Failure(Outcome.BAD_REQUEST, False, detail, status, client_error=ContextTooLong())
        if "THINKING_SIGNATURE_INVALID" in both:
            return Failure(
                Outcome.BAD_REQUEST,
                False,
                detail,
                status,
                client_error=InvalidRequest(f"the upstream rejected a thinking signature: {message}"),
                signature_invalid=True,
            )
        if "INVALID_MODEL_ID" in both:
            return Failure(Outcome.MODEL_UNAVAILABLE, True, detail, status)
        return Failure(
            Outcome.BAD_REQUEST,
            False,
            detail,
            status,
            client_error=InvalidRequest(f"the upstream rejected the request: {message or 'bad request'}"),
        )
    if status == 401:
        return Failure(Outcome.TOKEN_INVALID, True, detail, status)
    if status == 402:
        return Failure(Outcome.QUOTA_EXHAUSTED, True, detail, status, reason=known or reason or None)
    if status == 403:
        if _SUSPENDED.search(both):
            return Failure(Outcome.SUSPENDED, True, detail, status, reason=reason or None)
        return Failure(Outcome.TOKEN_INVALID, True, detail, status)
    if status == 429:
        if known in QUOTA_REASONS:
            return Failure(Outcome.QUOTA_EXHAUSTED, True, detail, status, retry_after_s=after, reason=known)
        if _SUSPICIOUS.search(both):
            return Failure(Outcome.SUSPENDED, True, detail, status, retry_after_s=after, reason="SUSPICIOUS")
        return Failure(Outcome.THROTTLED, True, detail, status, retry_after_s=after, reason=reason or None)
    return Failure(Outcome.SERVER_ERROR, True, detail, status, retry_after_s=after)


def classify_exception(exception_type: str, message: str, reason: str | None = None) -> Failure | None:
    """Failure class of an in-stream exception frame before any content (§5.6); None: not a failure."""
    detail = f"upstream {exception_type}: {message}".strip()
    if exception_type == "ContentLengthExceededException":
        return None  # the assembler ends the message with max_tokens
    if _CONTEXT.search(message):
        return Failure(Outcome.BAD_REQUEST, False, detail, client_error=ContextTooLong())
    known = _known_reason(reason or "", message)
    if known in CAPACITY_REASONS:
        return Failure(Outcome.MODEL_CAPACITY, True, detail, reason=known)
    if exception_type == "ThrottlingException":
        if known in QUOTA_REASONS:
            return Failure(Outcome.QUOTA_EXHAUSTED, True, detail, reason=known)
        if _SUSPICIOUS.search(message):
            return Failure(Outcome.SUSPENDED, True, detail, status_code=429, reason="SUSPICIOUS")
        return Failure(Outcome.THROTTLED, True, detail, reason=reason)
    if exception_type == "ValidationException":
        return Failure(
            Outcome.BAD_REQUEST,
            False,
            detail,
            client_error=InvalidRequest(f"the upstream rejected the request: {message}"),
        )
    if exception_type == "AccessDeniedException":
        outcome = Outcome.SUSPENDED if _SUSPENDED.search(message) else Outcome.TOKEN_INVALID
        return Failure(outcome, True, detail)
    return Failure(Outcome.SERVER_ERROR, True, detail)


def network_failure(exc: Exception) -> Failure:
    return Failure(Outcome.NETWORK_ERROR, True, f"upstream network error: {type(exc).__name__}")


@contextlib.contextmanager
def map_upstream_errors() -> Iterator[None]:
    """httpx transport errors → UpstreamFailure(NETWORK_ERROR), translated once."""
    try:
        yield
    except httpx.TransportError as exc:
        raise UpstreamFailure(network_failure(exc)) from exc
    except httpx.StreamError as exc:
        raise UpstreamFailure(network_failure(exc)) from exc


class UpstreamClient:
    """The pooled clients to Kiro, shaped by `settings`: `KIRO_API_BASE_URL` (a template with
    `{region}`), `KIRO_REGION` (for grants without one), `PROXY_POOL`, the connect and read
    timeouts and `GATEWAY_MAX_CONNECTIONS` (per outbound proxy)."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,  # tests only: a fake at the transport seam
    ) -> None:
        max_connections = settings.gateway_max_connections
        self.header_cache = HeaderCache()  # shared by the decoders of this process's answers
        self._proxy_pool = settings.proxies
        self._transport = transport
        self._template = settings.kiro_api_base_url
        self._region = settings.kiro_region
        connect_timeout = settings.gateway_connect_timeout
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=settings.gateway_read_timeout, write=30.0, pool=connect_timeout
        )
        self._limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=min(max_connections, 256),
            keepalive_expiry=30.0,
        )
        self._clients: dict[str | None, httpx.AsyncClient] = {}
        # Direct egress (no proxy) goes through the lean transport, called without the
        # httpx.AsyncClient layers (auth, redirects, cookies): README "Performance".
        self._direct: H1Transport | None = None
        if transport is None:
            self._direct = H1Transport(
                max_connections=max_connections,
                max_keepalive_connections=self._limits.max_keepalive_connections or max_connections,
                keepalive_expiry=self._limits.keepalive_expiry or 0.0,
            )
        self._timeouts = self._timeout.as_dict()
        self._urls: dict[str, httpx.URL] = {}

    def client_for(self, proxy: str | None) -> httpx.AsyncClient:
        client = self._clients.get(proxy)
        if client is None:
            client = httpx.AsyncClient(
                timeout=self._timeout,
                limits=self._limits,
                proxy=None if self._transport is not None else proxy,
                trust_env=False,
                http1=True,
                http2=False,
                transport=self._transport,
            )
            del client.headers["accept-encoding"]  # the data plane is never compressed (§5.1)
            self._clients[proxy] = client
        return client

    def chat_url(self, grant: LeaseGrant) -> str:
        return base_url(self._template, grant.region or self._region) + CHAT_PATH

    def _url(self, grant: LeaseGrant) -> httpx.URL:
        region = grant.region or self._region
        url = self._urls.get(region)
        if url is None:
            url = self._urls[region] = httpx.URL(self.chat_url(grant))
        return url

    async def open_chat(self, grant: LeaseGrant, body: bytes) -> httpx.Response:
        """Send the chat request; a 200 response with its body unread, or UpstreamFailure."""
        # the broker's choice (credential proxy or PROXY_POOL) wins; else the same stable pick here
        proxy = assign_proxy(grant.credential_id, self._proxy_pool, grant.proxy)
        headers = chat_headers(
            grant.access_token, grant.machine_id, api_key=grant.access_token.startswith("ksk_")
        )
        direct = self._direct if proxy is None else None
        with map_upstream_errors():
            if direct is not None:
                response = await direct.post(self._url(grant), headers, body, self._timeouts)
            else:
                client = self.client_for(proxy)
                request = client.build_request("POST", self.chat_url(grant), content=body, headers=headers)
                response = await client.send(request, stream=True)
        if response.status_code == 200:
            return response
        try:
            with map_upstream_errors():
                raw = (await response.aread())[:_ERROR_BODY_LIMIT]
        finally:
            await response.aclose()
        raise UpstreamFailure(classify_http(response.status_code, raw, response.headers.get("retry-after")))

    def mcp_url(self, grant: LeaseGrant) -> str:
        return base_url(self._template, grant.region or self._region) + MCP_PATH

    async def call_mcp(self, grant: LeaseGrant, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        """`POST /mcp` (kiro-protocol.md §14) under the same credential, proxy and transport as the
        chat call: (status, body). Raises UpstreamFailure (network class) on transport errors and
        TimeoutError after `timeout_s` in total."""
        proxy = assign_proxy(grant.credential_id, self._proxy_pool, grant.proxy)
        headers = mcp_headers(
            grant.access_token,
            grant.machine_id,
            grant.profile_arn,
            api_key=grant.access_token.startswith("ksk_"),
        )
        direct = self._direct if proxy is None else None
        async with asyncio.timeout(timeout_s):
            with map_upstream_errors():
                if direct is not None:
                    url = httpx.URL(self.mcp_url(grant))
                    response = await direct.post(url, headers, body, self._timeouts)
                else:
                    client = self.client_for(proxy)
                    request = client.build_request("POST", self.mcp_url(grant), content=body, headers=headers)
                    response = await client.send(request, stream=True)
                try:
                    raw = (await response.aread())[:_MCP_BODY_LIMIT]
                finally:
                    await response.aclose()
        return response.status_code, raw

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        if self._direct is not None:
            await self._direct.aclose()
