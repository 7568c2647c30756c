"""Finding 6: imported credentials could aim upstream calls anywhere.

`/oauth/api/import` accepted any `region`, `proxy` and `profileArn`: with region
`x@127.0.0.1:PORT/` the refresh token was posted to 127.0.0.1:PORT, and an imported `proxy`
received the broker's refresh call. Against the real stack (simulator, broker, dashboard, oauth,
gateway), a listener stands where the attacker wanted the token to go; it must hear nothing.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from kiro_testing import NatsServer, RedisServer, free_port
from tests.integration.origin import Origin, browser_origin

pytestmark = pytest.mark.integration


class Listener:
    """A TCP listener that records whether anything connected (the attacker's host)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", self.port))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


@pytest.fixture(scope="module")
def stack(log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Origin]:
    with browser_origin(
        log_dir / "security-import", nats_url=nats_server.url, redis_url=redis_server.url
    ) as stack:
        yield stack


@pytest.fixture
def listener() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


def import_one(stack: Origin, entry: Mapping[str, object]) -> tuple[int, str]:
    resp = stack.admin("POST", "/oauth/api/import", json={"credentials": json.dumps(entry)})
    return resp.status_code, resp.text


def refresh_token(stack: Origin) -> str:
    return str(stack.sim.add_account()["refresh_token"])


def test_a_region_cannot_choose_the_refresh_host(stack: Origin, listener: Listener) -> None:
    entry = {
        "auth": "Social",
        "refreshToken": refresh_token(stack),
        "region": f"x@127.0.0.1:{listener.port}/",
    }
    status, body = import_one(stack, entry)
    assert status in (400, 422)
    assert "region" in body
    assert listener.connections == 0


def test_a_profile_arn_cannot_choose_the_host(stack: Origin, listener: Listener) -> None:
    arn = f"arn:aws:codewhisperer:x@127.0.0.1:{listener.port}/:1:profile/X"
    status, body = import_one(
        stack, {"auth": "Social", "refreshToken": refresh_token(stack), "profileArn": arn}
    )
    assert status in (400, 422)
    assert "profileArn" in body
    assert listener.connections == 0


def test_an_imported_proxy_never_receives_the_refresh(stack: Origin, listener: Listener) -> None:
    entry = {
        "auth": "Social",
        "refreshToken": refresh_token(stack),
        "proxy": f"http://127.0.0.1:{listener.port}",
    }
    status, body = import_one(stack, entry)
    assert status in (400, 422)
    assert "PROXY_POOL" in body
    assert listener.connections == 0


@pytest.mark.parametrize(
    "proxy",
    ["file:///etc/passwd", "http://127.0.0.1:1/path", "http://", "gopher://127.0.0.1:70"],
)
def test_malformed_proxies_are_refused(stack: Origin, proxy: str) -> None:
    status, body = import_one(stack, {"auth": "Social", "refreshToken": refresh_token(stack), "proxy": proxy})
    assert status in (400, 422)
    assert "proxy" in body


def test_a_valid_import_still_works(stack: Origin) -> None:
    entry = {"auth": "Social", "refreshToken": refresh_token(stack), "region": "us-east-1"}
    status, body = import_one(stack, entry)
    assert status == 200, body
