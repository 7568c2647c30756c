"""Gateway errors and their one rendering per API flavour (CONTRACTS.md, error table).

    GatewayError                    status + Anthropic type + OpenAI type, optional retry-after
    ├── InvalidRequest              400 invalid_request_error / invalid_request_error
    │   └── ContextTooLong          400 invalid_request_error ("prompt is too long") / context_length_exceeded
    ├── AuthenticationFailed        401 authentication_error / invalid_api_key
    ├── PermissionDenied            403 permission_error / permission_denied
    ├── NotFound                    404 not_found_error / not_found
    ├── RequestTooLarge             413 request_too_large / request_too_large
    ├── RateLimited                 429 rate_limit_error / rate_limit_exceeded (+ retry-after)
    ├── Overloaded                  529 overloaded_error / 503 service_unavailable (+ retry-after)
    └── InternalError               500 api_error / server_error (a bug; never carries a traceback)

Exceptions from kiroproto, pydantic, the bus and the upstream are translated into these once,
where they happen (`from exc`); `render_error` is the only place that builds error JSON.
"""

from __future__ import annotations

import math
from typing import Literal

import orjson
from pydantic import ValidationError
from starlette.responses import Response

Flavour = Literal["anthropic", "openai"]


class GatewayError(Exception):
    """Its subclasses declare their status and the (Anthropic, OpenAI) error types as class
    keywords: `class NotFound(GatewayError, status=404, types=(...))`."""

    status: int = 500
    openai_status: int | None = None  # when it differs from `status`
    anthropic_type: str = "api_error"
    openai_type: str = "server_error"

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        types: tuple[str, str] | None = None,
        openai_status: int | None = None,
    ) -> None:
        super().__init_subclass__()
        if status is not None:
            cls.status = status
        if types is not None:
            cls.anthropic_type, cls.openai_type = types
        if openai_status is not None:
            cls.openai_status = openai_status

    def __init__(
        self, message: str, *, retry_after: float | None = None, close_connection: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        # answered before the request body was read: the rest of the body is still on the
        # connection, so the connection must close after the answer (else it reads as a head)
        self.close_connection = close_connection


class InvalidRequest(GatewayError, status=400, types=("invalid_request_error", "invalid_request_error")):
    """The request is malformed, or asks for what cannot be done."""


class ContextTooLong(InvalidRequest, types=("invalid_request_error", "context_length_exceeded")):
    def __init__(self, detail: str | None = None) -> None:
        text = "prompt is too long: the conversation exceeds the model's context window"
        super().__init__(f"{text} ({detail})" if detail else text)


class AuthenticationFailed(GatewayError, status=401, types=("authentication_error", "invalid_api_key")):
    """No key, or not a live one."""


class PermissionDenied(GatewayError, status=403, types=("permission_error", "permission_denied")):
    """The team key may not use this model."""


class NotFound(GatewayError, status=404, types=("not_found_error", "not_found")):
    """No such route or model."""


class RequestTooLarge(GatewayError, status=413, types=("request_too_large", "request_too_large")):
    """The body is larger than the limit."""


class RateLimited(GatewayError, status=429, types=("rate_limit_error", "rate_limit_exceeded")):
    """A team limit, or too many large bodies in flight (with retry-after)."""


class Overloaded(
    GatewayError, status=529, openai_status=503, types=("overloaded_error", "service_unavailable")
):
    """No account can serve now, or the broker is away (with retry-after)."""


class InternalError(GatewayError, status=500, types=("api_error", "server_error")):
    """A bug (the message names the request id, never a traceback)."""


def flavour_for_path(path: str) -> Flavour:
    """OpenAI shape under /v1/chat, Anthropic everywhere else (messages, models, unknown paths)."""
    return "openai" if path.startswith("/v1/chat") else "anthropic"


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def error_body(err: GatewayError, flavour: Flavour, request_id: str | None = None) -> bytes:
    if flavour == "openai":
        return orjson.dumps(
            {
                "error": {
                    "message": err.message,
                    "type": err.openai_type,
                    "param": None,
                    "code": err.openai_type,
                }
            }
        )
    body: dict[str, object] = {"type": "error", "error": {"type": err.anthropic_type, "message": err.message}}
    if request_id:
        body["request_id"] = request_id
    return orjson.dumps(body)


def render_error(err: GatewayError, flavour: Flavour, request_id: str | None = None) -> Response:
    """The one place that turns a GatewayError into an HTTP response, per flavour."""
    status = (err.openai_status or err.status) if flavour == "openai" else err.status
    headers: dict[str, str] = {}
    if err.retry_after is not None:
        headers["retry-after"] = retry_after_header(err.retry_after)
    if err.close_connection:
        headers["connection"] = "close"
    if isinstance(err, InternalError) and request_id:
        err = InternalError(f"{err.message} (request id {request_id})")
    return Response(
        error_body(err, flavour, request_id),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def describe_validation_error(exc: ValidationError, *, limit: int = 3) -> str:
    """`messages.0.content: Field required; ...` - names the fields a client got wrong."""
    parts: list[str] = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if not _is_union_tag(p))
        msg = str(err.get("msg", "invalid"))
        parts.append(f"{loc}: {msg}" if loc else msg)
    extra = len(exc.errors()) - limit
    if extra > 0:
        parts.append(f"and {extra} more problem(s)")
    return "; ".join(parts)


def _is_union_tag(part: object) -> bool:
    # pydantic puts discriminator tags / union member names into `loc`; clients want field paths
    if not isinstance(part, str):
        return False
    return (
        part[:1].isupper() or "[" in part or part in _TYPE_NAMES or part.startswith(("function-", "tagged-"))
    )


_TYPE_NAMES = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def invalid_from_validation(exc: ValidationError) -> InvalidRequest:
    return InvalidRequest(f"invalid request: {describe_validation_error(exc)}")
