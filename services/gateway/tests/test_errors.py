"""Error rendering: one shape per flavour, statuses per the CONTRACTS.md error table."""

from __future__ import annotations

import orjson
import pytest

from gateway.errors import (
    AuthenticationFailed,
    ContextTooLong,
    GatewayError,
    InternalError,
    InvalidRequest,
    NotFound,
    Overloaded,
    PermissionDenied,
    RateLimited,
    RequestTooLarge,
    flavour_for_path,
    render_error,
)

TABLE = [
    (InvalidRequest("bad"), 400, "invalid_request_error", 400, "invalid_request_error"),
    (ContextTooLong(), 400, "invalid_request_error", 400, "context_length_exceeded"),
    (AuthenticationFailed("no"), 401, "authentication_error", 401, "invalid_api_key"),
    (PermissionDenied("no"), 403, "permission_error", 403, "permission_denied"),
    (NotFound("no"), 404, "not_found_error", 404, "not_found"),
    (RequestTooLarge("big"), 413, "request_too_large", 413, "request_too_large"),
    (RateLimited("busy", retry_after=3), 429, "rate_limit_error", 429, "rate_limit_exceeded"),
    (Overloaded("none", retry_after=2.2), 529, "overloaded_error", 503, "service_unavailable"),
    (InternalError("bug"), 500, "api_error", 500, "server_error"),
]


@pytest.mark.parametrize(("err", "a_status", "a_type", "o_status", "o_type"), TABLE)
def test_both_shapes(err: GatewayError, a_status: int, a_type: str, o_status: int, o_type: str) -> None:
    anthropic = render_error(err, "anthropic", "req_1")
    assert anthropic.status_code == a_status
    body = orjson.loads(anthropic.body)
    assert body["type"] == "error"
    assert body["error"]["type"] == a_type
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]

    openai = render_error(err, "openai", "req_1")
    assert openai.status_code == o_status
    obody = orjson.loads(openai.body)
    assert set(obody) == {"error"}
    assert obody["error"]["type"] == o_type
    assert obody["error"]["code"] == o_type
    assert obody["error"]["message"]


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert render_error(Overloaded("x", retry_after=2.2), "anthropic").headers["retry-after"] == "3"
    assert render_error(RateLimited("x", retry_after=0.1), "openai").headers["retry-after"] == "1"
    assert "retry-after" not in render_error(InvalidRequest("x"), "anthropic").headers


def test_internal_error_names_the_request_id() -> None:
    body = orjson.loads(render_error(InternalError("internal error"), "anthropic", "req_abc").body)
    assert "req_abc" in body["error"]["message"]


def test_context_too_long_message() -> None:
    body = orjson.loads(render_error(ContextTooLong(), "anthropic").body)
    assert body["error"]["message"].startswith("prompt is too long")


@pytest.mark.parametrize(
    ("path", "flavour"),
    [
        ("/v1/messages", "anthropic"),
        ("/v1/messages/count_tokens", "anthropic"),
        ("/v1/models", "anthropic"),
        ("/v1/chat/completions", "openai"),
        ("/v1/chat/anything", "openai"),
        ("/whatever", "anthropic"),
    ],
)
def test_flavour_by_path(path: str, flavour: str) -> None:
    assert flavour_for_path(path) == flavour
