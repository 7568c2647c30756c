"""Hypothesis against a real gateway: malformed, oversized, deeply nested and wrong-typed
requests, odd methods, paths and headers, on every endpoint. The oracle (`oracle.py`): never a
5xx (but the documented 529/503), never a hang, always the client's error shape.

Sizes are kept to about a minute under `make test`; `FUZZ_SCALE=10` runs ten times as many.
"""

from __future__ import annotations

import json
import socket
import string
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiro_testing.chaos.deployment import CLIENT_KEY

from .conftest import BODY_LIMIT, examples
from .oracle import check_answer, send

pytestmark = [pytest.mark.integration]

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def fuzz(n: int) -> settings:
    """`n` examples under `make test` (times FUZZ_SCALE)."""
    return settings(FUZZ, max_examples=examples(n))


AUTH = {"x-api-key": CLIENT_KEY, "content-type": "application/json", "anthropic-version": "2023-06-01"}
ENDPOINTS = ("/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions")

# ------------------------------------------------------------------------------ strategies

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(
        ["", " ", "user", "assistant", "text", "image", "tool_use", "claude-sonnet-4-5", "\x00", "🙂"]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)


def dumps(value: Any) -> bytes:
    """Any JSON-ish value, including big integers and NaN (which strict JSON does not allow)."""
    return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", errors="surrogatepass")


def anthropic_base(stream: bool) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 32,
        "stream": stream,
        "messages": [{"role": "user", "content": "fuzz"}],
    }


def openai_base(stream: bool) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "stream": stream, "messages": [{"role": "user", "content": "fuzz"}]}


blocks = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": scalars}),
    st.fixed_dictionaries(
        {
            "type": st.just("image"),
            "source": st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["base64", "url", "file", 3]),
                    "media_type": st.sampled_from(["image/png", "image/bmp", "", None]),
                    "data": st.sampled_from(["!!notbase64", "", "iVBORw0KGgo=", None]),
                    "url": st.sampled_from(["http://127.0.0.1:1/x.png", "not a url"]),
                }
            ),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("tool_use"), "id": scalars, "name": scalars, "input": json_values}
    ),
    st.fixed_dictionaries({"type": st.just("tool_result"), "tool_use_id": scalars, "content": json_values}),
    st.fixed_dictionaries({"type": st.just("thinking"), "thinking": scalars, "signature": scalars}),
    st.fixed_dictionaries({"type": st.text(max_size=12)}),
    json_values,
)
anthropic_fields = {
    "model": scalars,
    "max_tokens": scalars,
    "stream": scalars,
    "messages": st.lists(
        st.fixed_dictionaries({"role": scalars, "content": st.one_of(scalars, st.lists(blocks, max_size=3))}),
        max_size=4,
    )
    | json_values,
    "system": st.one_of(scalars, st.lists(blocks, max_size=2)),
    "tools": st.lists(
        st.fixed_dictionaries({"name": scalars, "description": scalars, "input_schema": json_values}),
        max_size=3,
    )
    | json_values,
    "tool_choice": json_values,
    "temperature": scalars,
    "top_p": scalars,
    "top_k": scalars,
    "stop_sequences": json_values,
    "metadata": json_values,
    "thinking": st.fixed_dictionaries({"type": scalars, "budget_tokens": scalars}) | json_values,
}
openai_fields = {
    "model": scalars,
    "stream": scalars,
    "stream_options": json_values,
    "messages": st.lists(
        st.fixed_dictionaries(
            {
                "role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "x"])
                | scalars,
                "content": st.one_of(
                    scalars,
                    st.lists(
                        st.one_of(
                            st.fixed_dictionaries({"type": st.just("text"), "text": scalars}),
                            st.fixed_dictionaries(
                                {
                                    "type": st.just("image_url"),
                                    "image_url": st.fixed_dictionaries({"url": scalars}),
                                }
                            ),
                            json_values,
                        ),
                        max_size=3,
                    ),
                ),
                "tool_calls": json_values,
                "tool_call_id": scalars,
            }
        ),
        max_size=4,
    )
    | json_values,
    "tools": json_values,
    "tool_choice": json_values,
    "max_tokens": scalars,
    "max_completion_tokens": scalars,
    "temperature": scalars,
    "n": scalars,
    "stop": json_values,
    "response_format": json_values,
}


@st.composite
def mutated(
    draw: st.DrawFn, base: dict[str, Any], fields: dict[str, st.SearchStrategy[Any]]
) -> dict[str, Any]:
    """A valid body with one to three fields replaced, added or removed."""
    body = dict(base)
    for name in draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3, unique=True)):
        if draw(st.integers(0, 5)) == 0:
            body.pop(name, None)
        else:
            body[name] = draw(fields[name])
    return body


header_values = st.text(alphabet=string.printable.strip() + " ", max_size=60).map(str.strip)
auth_headers = st.sampled_from(
    [
        {"x-api-key": CLIENT_KEY},
        {"authorization": f"Bearer {CLIENT_KEY}"},
        {"authorization": f"bearer {CLIENT_KEY}"},
        {},
        {"x-api-key": ""},
        {"x-api-key": "wrong"},
        {"authorization": "Basic Zm9vOmJhcg=="},
        {"authorization": "Bearer"},
        {"x-api-key": CLIENT_KEY + "x"},
    ]
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
    ]
)


@st.composite
def headers(draw: st.DrawFn) -> dict[str, str]:
    out = dict(draw(auth_headers))
    out["content-type"] = draw(content_types)
    for name in draw(
        st.lists(
            st.sampled_from(
                [
                    "anthropic-version",
                    "anthropic-beta",
                    "accept",
                    "x-request-id",
                    "openai-organization",
                    "x-stainless-lang",
                    "accept-encoding",
                ]
            ),
            max_size=3,
            unique=True,
        )
    ):
        out[name] = draw(header_values)
    return out


# ------------------------------------------------------------------------------ the tests


@fuzz(250)
@given(path=st.sampled_from(ENDPOINTS), body=st.binary(max_size=300))
def test_arbitrary_bytes(http: httpx.Client, path: str, body: bytes) -> None:
    send(http, "POST", path, content=body, headers=AUTH)


@fuzz(300)
@given(path=st.sampled_from(ENDPOINTS), value=json_values)
def test_arbitrary_json(http: httpx.Client, path: str, value: Any) -> None:
    send(http, "POST", path, content=dumps(value), headers=AUTH)


@fuzz(500)
@given(
    path=st.sampled_from(["/v1/messages", "/v1/messages/count_tokens"]), stream=st.booleans(), data=st.data()
)
def test_wrong_types_anthropic(http: httpx.Client, path: str, stream: bool, data: st.DataObject) -> None:
    body = data.draw(mutated(anthropic_base(stream), anthropic_fields))
    send(http, "POST", path, content=dumps(body), headers=AUTH)


@fuzz(400)
@given(stream=st.booleans(), data=st.data())
def test_wrong_types_openai(http: httpx.Client, stream: bool, data: st.DataObject) -> None:
    body = data.draw(mutated(openai_base(stream), openai_fields))
    send(
        http,
        "POST",
        "/v1/chat/completions",
        content=dumps(body),
        headers={**AUTH, "authorization": f"Bearer {CLIENT_KEY}"},
    )


@fuzz(300)
@given(path=st.sampled_from(ENDPOINTS), hdrs=headers(), stream=st.booleans())
def test_odd_headers(http: httpx.Client, path: str, hdrs: dict[str, str], stream: bool) -> None:
    body = openai_base(stream) if path.startswith("/v1/chat") else anthropic_base(stream)
    send(http, "POST", path, content=dumps(body), headers=hdrs)


paths = st.one_of(
    st.sampled_from(
        [
            "/v1/messages",
            "/v1/messages/count_tokens",
            "/v1/chat/completions",
            "/v1/models",
            "/v1/models/claude-sonnet-4-5",
            "/v1/models/%00",
            "/v1/models/" + "x" * 3000,
            "/v1/",
            "/v1",
            "/v2/messages",
            "/v1/messages/",
            "/v1/chat",
            "/v1/chat/completions/x",
            "/v1/completions",
            "/v1/embeddings",
            "/v1/messages/batches",
            "/v1//messages",
            "/%2e%2e/etc/passwd",
            "/v1/models?x=1",
        ]
    ),
    st.text(alphabet=string.ascii_letters + string.digits + "-._~/%", max_size=40).map(lambda s: "/v1/" + s),
)


@fuzz(350)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]),
    path=paths,
    body=st.one_of(st.none(), json_values.map(dumps)),
    auth=auth_headers,
)
def test_methods_and_paths(
    http: httpx.Client, method: str, path: str, body: bytes | None, auth: dict[str, str]
) -> None:
    try:
        httpx.URL(path)
    except httpx.InvalidURL:
        return
    send(http, method, path, content=body, headers={**auth, "content-type": "application/json"})


# ------------------------------------------------------------------------------ sizes and depth


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("depth", [100, 2000, 100_000])
def test_deeply_nested_json(http: httpx.Client, path: str, depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    send(http, "POST", path, content=nested, headers=AUTH)
    inside = (
        b'{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":' + nested + b"}]}"
    )
    send(http, "POST", path, content=inside, headers=AUTH)
    objects = b'{"a":' * depth + b"1" + b"}" * depth
    send(http, "POST", path, content=objects, headers=AUTH)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_body_over_the_limit_is_413_in_shape(http: httpx.Client, path: str) -> None:
    body = anthropic_base(False) if not path.startswith("/v1/chat") else openai_base(False)
    body["messages"][0]["content"] = "x" * (BODY_LIMIT + 10)
    response, _ = send(http, "POST", path, content=dumps(body), headers=AUTH)
    assert response.status_code == 413


@pytest.mark.parametrize("path", ENDPOINTS)
def test_large_valid_prompt_is_answered_or_refused_cleanly(http: httpx.Client, path: str) -> None:
    body = anthropic_base(False) if not path.startswith("/v1/chat") else openai_base(False)
    body["messages"][0]["content"] = "lorem ipsum " * (BODY_LIMIT // 24)  # ~1 MB: over the simulator's limit
    response, _ = send(http, "POST", path, content=dumps(body), headers=AUTH)
    assert response.status_code in (200, 400)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_many_small_messages(http: httpx.Client, path: str) -> None:
    body = anthropic_base(False) if not path.startswith("/v1/chat") else openai_base(False)
    body["messages"] = [{"role": ("user", "assistant")[i % 2], "content": f"m{i}"} for i in range(20_001)]
    send(http, "POST", path, content=dumps(body), headers=AUTH)


def _raw(port: int, request: bytes, limit_s: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=limit_s) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                raise AssertionError(f"no answer within {limit_s}s to {request[:80]!r}") from None
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks) and len(chunks) > 0:
                head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                length = [
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if length and len(rest) >= length[0]:
                    break
        return b"".join(chunks)


def test_a_declared_huge_body_is_refused_before_it_is_sent(gateway_url: str) -> None:
    port = httpx.URL(gateway_url).port
    assert port is not None
    answer = _raw(
        port,
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: "
        + CLIENT_KEY.encode()
        + b"\r\ncontent-type: application/json\r\ncontent-length: 3000000000\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"request_too_large"' in answer


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\ncontent-length: abc\r\n\r\n",
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + b"x-filler: " + b"a" * 60_000 + b"\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"BREW /v1/messages HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nx-api-key: \xff\xfe\r\n\r\n",
    ],
)
def test_malformed_http_gets_an_answer_or_a_close(gateway_url: str, request_bytes: bytes) -> None:
    port = httpx.URL(gateway_url).port
    assert port is not None
    answer = _raw(port, request_bytes)
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert status < 500, answer[:300]


def test_valid_requests_succeed(http: httpx.Client) -> None:
    """The stack really serves: the fuzzers' 4xx are about the input, not a broken pool."""
    for stream in (False, True):
        response, body = send(
            http, "POST", "/v1/messages", content=dumps(anthropic_base(stream)), headers=AUTH
        )
        assert response.status_code == 200, body[:300]
        response, body = send(
            http,
            "POST",
            "/v1/chat/completions",
            content=dumps(openai_base(stream)),
            headers={**AUTH, "authorization": f"Bearer {CLIENT_KEY}"},
        )
        assert response.status_code == 200, body[:300]
    response, body = send(http, "GET", "/v1/models", headers=AUTH)
    assert response.status_code == 200


def test_oracle_rejects_wrong_shapes() -> None:
    wrong = httpx.Response(400, json={"type": "error", "error": {"type": "x", "message": "m"}})
    with pytest.raises(AssertionError):
        check_answer("POST", "/v1/chat/completions", wrong, wrong.content)
    server_error = httpx.Response(500, json={"type": "error", "error": {"type": "api_error", "message": "m"}})
    with pytest.raises(AssertionError):
        check_answer("POST", "/v1/messages", server_error, server_error.content)
