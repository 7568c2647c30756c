"""What every answer of the gateway must look like, whatever it was sent (issue 6, "Bad input").

- never a 5xx, except 529 (Anthropic) / 503 (OpenAI) `overloaded_error` / `service_unavailable`
  with `retry-after`, the documented "no credential can serve" answer;
- an error is in the client's shape: OpenAI (`{"error": {"message", "type", ...}}`) under
  `/v1/chat`, Anthropic (`{"type": "error", "error": {"type", "message"}}`) everywhere else;
- a 200 is a JSON answer, or a complete event stream for `stream: true`;
- every exchange ends within the client's deadline (a hang raises a timeout in the caller).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import orjson

OVERLOADED = {529: "overloaded_error", 503: "service_unavailable"}
SEEN: Counter[str] = Counter()  # "METHOD /path-kind status" -> count, shown after the run


def flavour(path: str) -> str:
    return "openai" if path.startswith("/v1/chat") else "anthropic"


def check_answer(method: str, path: str, response: httpx.Response, body: bytes) -> None:
    status = response.status_code
    SEEN["checked"] += 1
    where = f"{method} {path} -> {status}: {body[:300]!r}"
    if status >= 500:
        assert OVERLOADED.get(status) is not None, f"server error: {where}"
        assert response.headers.get("retry-after"), f"no retry-after: {where}"
    if method == "HEAD":
        return
    content_type = response.headers.get("content-type", "")
    if status == 200 and content_type.startswith("text/event-stream"):
        text = body.decode("utf-8", errors="replace")
        assert "message_stop" in text or "[DONE]" in text or "event: error" in text or '"error"' in text, (
            f"incomplete stream: {where}"
        )
        return
    if status < 400:
        if path.startswith("/v1/") and method != "OPTIONS":
            assert content_type.startswith("application/json"), f"not JSON: {where}"
            orjson.loads(body)
        return
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise AssertionError(f"error body is not JSON: {where}") from None
    assert isinstance(data, dict), where
    err = data.get("error")
    assert isinstance(err, dict), f"no error object: {where}"
    assert isinstance(err.get("message"), str) and err["message"], f"no error message: {where}"
    assert isinstance(err.get("type"), str), f"no error type: {where}"
    if flavour(path) == "anthropic":
        assert data.get("type") == "error", f"not the Anthropic error shape: {where}"
    else:
        assert "type" not in data, f"not the OpenAI error shape: {where}"
    if status >= 500:
        assert err["type"] == OVERLOADED[status], where


def send(
    http: httpx.Client,
    method: str,
    path: str,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[httpx.Response, bytes]:
    """One exchange, read to the end (streams included); a hang surfaces as httpx's timeout."""
    with http.stream(method, path, content=content, headers=headers) as response:
        body = response.read()
    check_answer(method, path, response, body)
    SEEN[str(response.status_code)] += 1
    return response, body
