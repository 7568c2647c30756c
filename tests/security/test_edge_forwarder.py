"""Findings 1 and 8 (issue 9) on the public origin: the gateway's forwarder to the dashboard and
OAuth services keeps no cookies, forwards exactly the path it routed on, answers odd paths with
a 4xx, keeps redirects on the public origin, sends one `date` header, and logs a client that
hangs up mid-body as a disconnect. Real processes, real NATS and Redis (`tests/integration/origin.py`)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiro_testing import NatsServer, RedisServer
from kiro_testing.stack import ADMIN_TOKEN, CLIENT_TOKEN
from tests.integration.origin import Origin, edge_origin, headers_of, raw_request, status_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Origin]:
    with edge_origin(log_dir / "edge-forwarder", nats_url=nats_server.url, redis_url=redis_server.url) as s:
        yield s


def _csrf(html: str) -> str | None:
    found = re.search(r'csrf-token" content="([^"]*)', html)
    return found.group(1) if found else None


def test_an_admin_login_is_not_replayed_to_anonymous_clients(stack: Origin) -> None:
    with stack.client() as admin:
        r = admin.post("/api/login", data={"token": ADMIN_TOKEN, "next": "/"})
        assert r.status_code == 303, r.text
        assert "set-cookie" in r.headers  # the browser that signed in gets its cookie
        assert admin.get("/api/tokens").status_code == 200  # ... and is signed in
    with stack.client() as anonymous:
        assert anonymous.get("/api/tokens").status_code == 401
        page = anonymous.get("/")
        assert page.status_code == 200
        csrf = _csrf(page.text)
        assert csrf is None  # the login page, not the dashboard of the admin's session
        r = anonymous.post(
            "/api/keys",
            json={"team": "anon", "name": "x"},
            headers={"x-csrf-token": csrf or "scraped"},
        )
        assert r.status_code in (401, 403), r.text
        r = anonymous.post("/oauth/api/device/start", json={}, headers={"x-csrf-token": csrf or "scraped"})
        assert r.status_code in (401, 403), r.text
        r = anonymous.post("/oauth/api/import", json={"refreshToken": "x" * 40})
        assert r.status_code in (401, 403), r.text


def test_dot_segments_cannot_reach_another_path(stack: Origin) -> None:
    for path in (
        b"/api/../metrics",
        b"/api/%2e%2e/metrics",
        b"/api/%2E%2E%2Fmetrics",
        b"/./metrics",
        b"//metrics",
    ):
        answer = raw_request(stack.port, b"GET " + path + b" HTTP/1.1\r\nhost: x")
        assert 400 <= status_of(answer) < 500, (path, answer[:200])
        assert b"dashboard_" not in answer and b"# TYPE" not in answer


@pytest.mark.parametrize(
    "path", [b"/%00", b"/api/%00x", b"/oauth/%0a", b"/%ff%fe", b"/a%5c..%5cmetrics", b"/static/%00.js"]
)
def test_odd_paths_are_a_client_error_and_no_traceback(stack: Origin, path: bytes) -> None:
    answer = raw_request(stack.port, b"GET " + path + b" HTTP/1.1\r\nhost: x")
    assert 400 <= status_of(answer) < 500, (path, answer[:300])
    time.sleep(0.2)
    log = stack.gateway_log()
    assert "Traceback" not in log and "unhandled error" not in log


@pytest.mark.parametrize("path", ["/oauth/", "/metrics/", "/healthz/", "/api/tokens/"])
def test_redirects_stay_on_the_public_origin(stack: Origin, path: str) -> None:
    with stack.client() as http:
        r = http.get(path)
        location = r.headers.get("location", "")
        assert "127.0.0.1" not in location and str(stack.dashboard_port) not in location
        assert str(stack.oauth_port) not in location
        if location:
            assert location.startswith("/"), location


def test_one_date_header(stack: Origin) -> None:
    for path in (b"/", b"/api/tokens", b"/oauth", b"/static/dashboard/app.js"):
        answer = raw_request(stack.port, b"GET " + path + b" HTTP/1.1\r\nhost: x")
        names = [name for name, _ in headers_of(answer)]
        assert names.count("date") == 1, (path, names)
        assert names.count("server") <= 1, (path, names)


def test_a_body_on_a_get_does_not_stall_the_forwarded_request(stack: Origin) -> None:
    started = time.monotonic()
    answer = raw_request(stack.port, b"GET /api/tokens HTTP/1.1\r\nhost: x\r\ncontent-length: 5", b"hello")
    assert status_of(answer) == 401 and time.monotonic() - started < 5.0


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (b"/v1/messages", b"x-api-key: " + CLIENT_TOKEN.encode() + b"\r\ncontent-type: application/json"),
        (b"/api/login", b"content-type: application/x-www-form-urlencoded"),
    ],
)
def test_a_client_that_hangs_up_mid_body_is_a_disconnect(stack: Origin, path: bytes, headers: bytes) -> None:
    head = b"POST " + path + b" HTTP/1.1\r\nhost: x\r\n" + headers + b"\r\ncontent-length: 100000"
    before = len(stack.gateway_log().splitlines())
    raw_request(stack.port, head, b'{"model": "claude', close_early=True)
    deadline = time.monotonic() + 10.0
    lines: list[str] = []
    while time.monotonic() < deadline:
        new = stack.gateway_log().splitlines()[before:]
        lines = [line for line in new if f'"path":"{path.decode()}"' in line]
        if lines:
            break
        time.sleep(0.1)
    assert lines, "no request line logged"
    assert '"disconnected":true' in lines[-1], lines[-1]
    assert '"status":500' not in lines[-1]
    log = stack.gateway_log()
    assert "unhandled error" not in log and "Traceback" not in log
