"""Finding 2: the store is open to any local process (`redis-cli HGETALL` read every token).

redis-server runs with the authentication that `make run` generates
(`kiro_testing.busauth.render_redis_conf`) and with what Compose ships (deploy/redis/redis.conf
plus the ACL users of deploy/compose.yml's command line). A client without credentials, or with
a wrong password, is refused; each service's user works but cannot administer the server.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import redis
import redis.exceptions

from kiro_testing import RedisServer, free_port
from kiro_testing.busauth import REDIS_SERVICES, render_redis_conf, write_private
from kiro_testing.processes import find_binary
from tests.security.bus_helpers import compose_redis_command

pytestmark = pytest.mark.integration


class _ComposeRedis(RedisServer):
    """redis-server with deploy/compose.yml's command (the shipped file and ACL users)."""

    def __init__(self, log_dir: Path, port: int, args: list[str]) -> None:
        super().__init__(log_dir, port=port)
        self.args = args

    def command(self) -> Sequence[str]:
        return [find_binary("redis-server"), *self.args]


@pytest.fixture(params=["make-run", "compose"])
def authed_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    passwords = {name: secrets.token_urlsafe(16) for name in REDIS_SERVICES}
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    server: RedisServer
    if request.param == "make-run":
        conf = write_private(tmp_path / "redis.conf", render_redis_conf(passwords, port=port, data_dir=data))
        server = RedisServer(tmp_path / "logs", port=port, data_dir=data, config_file=conf)
    else:
        server = _ComposeRedis(tmp_path / "logs", port, compose_redis_command(passwords, port, data))
    server.start()
    try:
        yield port, passwords
    finally:
        server.stop()


def _client(port: int, username: str | None = None, password: str | None = None) -> redis.Redis:
    return redis.Redis(
        port=port, username=username, password=password, socket_timeout=5, decode_responses=True
    )


def test_an_unauthenticated_client_is_refused(authed_redis: tuple[int, dict[str, str]]) -> None:
    port, _ = authed_redis
    anonymous = _client(port)
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.hgetall("kiro2api:broker:cred:a")
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.ping()
    finally:
        anonymous.close()


@pytest.mark.parametrize("username", ["default", "broker"])
def test_a_wrong_password_is_refused(authed_redis: tuple[int, dict[str, str]], username: str) -> None:
    port, _ = authed_redis
    client = _client(port, username, "not-the-password")
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            client.ping()
    finally:
        client.close()


@pytest.mark.parametrize("service", REDIS_SERVICES)
def test_each_service_user_works_without_administration(
    authed_redis: tuple[int, dict[str, str]], service: str
) -> None:
    port, passwords = authed_redis
    client = _client(port, service, passwords[service])
    try:
        assert client.ping()
        client.hset(f"kiro2api:{service}:probe", mapping={"a": "1"})
        assert client.hgetall(f"kiro2api:{service}:probe") == {"a": "1"}
        assert (
            client.eval("return redis.call('GET', KEYS[1])", 1, "kiro2api:none") is None
        )  # the broker's scripts
        for command in (("CONFIG", "GET", "dir"), ("FLUSHALL",), ("ACL", "LIST"), ("KEYS", "*")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.execute_command(*command)  # type: ignore[no-untyped-call]
    finally:
        client.close()


def test_protected_mode_is_on_in_what_make_run_generates(tmp_path: Path) -> None:
    text = render_redis_conf({"broker": "x" * 24}, port=free_port(), data_dir=tmp_path)
    assert "protected-mode yes" in text
    assert "user default off" in text
    assert "x" * 24 not in text, "the config keeps only a hash of each password"
