"""Finding 2: the bus is open to any local process (any NATS client could lease a live Kiro
access token or capture every lease reply).

nats-server runs with the permission blocks that deploy/ ships (deploy/nats/nats.conf) and with
the ones `make run` generates (`kiro_testing.busauth.render_nats_conf`). A stand-in broker (the
broker's user) answers `kiro.v1.lease.acquire` with a secret. The gateway's user gets the
answer; the dashboard's and oauth's users can neither request a lease nor read the replies
the gateway receives (its inbox, or `>`); a client without credentials is refused.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import nats.errors
import pytest

from kiro_testing import NatsServer, free_port
from kiro_testing.busauth import nats_permissions, render_nats_conf, write_private
from kiroproto import bus
from kiroproto.bus import Endpoint, Event, Subjects
from tests.security.bus_helpers import REPO, SERVICES, connect_as, shipped_nats_conf

pytestmark = pytest.mark.integration

SUBJECTS = Subjects()  # the default namespace, the one deploy/nats/nats.conf is written for
LEASE_SECRET = b"access-token-" + secrets.token_hex(8).encode()

ConfMaker = Callable[[int, dict[str, str]], str]


def _generated(port: int, passwords: dict[str, str]) -> str:
    return render_nats_conf(passwords, port=port)


@pytest.fixture(
    params=[pytest.param(shipped_nats_conf, id="deploy"), pytest.param(_generated, id="make-run")]
)
def authed_nats(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    make: ConfMaker = request.param
    passwords = {name: secrets.token_urlsafe(16) for name in SERVICES}
    port = free_port()
    conf = write_private(tmp_path / "nats.conf", make(port, passwords))
    server = NatsServer(tmp_path / "logs", port=port, config_file=conf)
    server.start()
    try:
        yield server.url, passwords
    finally:
        server.stop()


@pytest.fixture
async def lease_responder(authed_nats: tuple[str, dict[str, str]]) -> AsyncIterator[list[bytes]]:
    """A broker stand-in (the broker's user) answering lease requests; yields what it received."""
    url, passwords = authed_nats
    nc, errors = await connect_as(url, "broker", passwords["broker"])
    received: list[bytes] = []

    async def answer(msg: Any) -> None:
        received.append(bytes(msg.data))
        await msg.respond(LEASE_SECRET)

    await nc.subscribe(SUBJECTS.lease_acquire, queue="token-broker", cb=answer)
    await nc.flush()
    try:
        yield received
    finally:
        assert not errors, f"the broker's own permissions were violated: {errors}"
        await nc.close()


async def test_the_gateway_gets_a_lease(
    authed_nats: tuple[str, dict[str, str]], lease_responder: list[bytes]
) -> None:
    url, passwords = authed_nats
    nc, errors = await connect_as(url, "gateway", passwords["gateway"])
    try:
        reply = await nc.request(SUBJECTS.lease_acquire, b"gateway", timeout=3)
        assert reply.data == LEASE_SECRET
        assert not errors
    finally:
        await nc.close()


@pytest.mark.parametrize("service", ["dashboard", "oauth"])
async def test_admin_services_cannot_request_a_lease(
    authed_nats: tuple[str, dict[str, str]], lease_responder: list[bytes], service: str
) -> None:
    url, passwords = authed_nats
    nc, errors = await connect_as(url, service, passwords[service])
    try:
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await nc.request(SUBJECTS.lease_acquire, service.encode(), timeout=1.5)
        # Posing as the gateway's inbox does not help either: subscribing there is refused.
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await nc.request(SUBJECTS.lease_acquire, service.encode(), timeout=1.5)
        assert service.encode() not in lease_responder, "the broker received a lease request"
        assert any("permissions violation" in str(e).lower() for e in errors), errors
    finally:
        await nc.close()


@pytest.mark.parametrize("service", ["dashboard", "oauth"])
async def test_admin_services_cannot_read_lease_replies(
    authed_nats: tuple[str, dict[str, str]], lease_responder: list[bytes], service: str
) -> None:
    url, passwords = authed_nats
    spy, errors = await connect_as(url, service, passwords[service])
    gateway, _ = await connect_as(url, "gateway", passwords["gateway"])
    captured: list[bytes] = []

    async def keep(msg: Any) -> None:
        captured.append(bytes(msg.data))

    try:
        for subject in (">", "_INBOX.>", "_INBOX.gateway.>", SUBJECTS.lease_acquire):
            await spy.subscribe(subject, cb=keep)
        await spy.flush()
        await asyncio.sleep(0.3)  # the server's refusals arrive asynchronously
        reply = await gateway.request(SUBJECTS.lease_acquire, b"gateway", timeout=3)
        assert reply.data == LEASE_SECRET
        await asyncio.sleep(0.3)
        assert LEASE_SECRET not in captured and b"gateway" not in captured, "lease traffic was captured"
        violations = [e for e in errors if "permissions violation" in str(e).lower()]
        assert len(violations) >= 4, errors
    finally:
        await gateway.close()
        await spy.close()


@pytest.mark.parametrize("who", ["anonymous", "wrong-password"])
async def test_clients_without_valid_credentials_are_refused(
    authed_nats: tuple[str, dict[str, str]], who: str
) -> None:
    url, _ = authed_nats
    answer = await raw_connect(url, None if who == "anonymous" else ("gateway", "not-the-password"))
    assert "authorization violation" in answer.lower(), answer


async def raw_connect(url: str, user: tuple[str, str] | None) -> str:
    """The server's answer to a CONNECT (+PING) with these credentials, at the protocol level."""
    host, _, port = url.removeprefix("nats://").rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        await reader.readline()  # INFO
        connect: dict[str, Any] = {"verbose": False, "pedantic": False, "protocol": 1}
        if user is not None:
            connect |= {"user": user[0], "pass": user[1]}
        writer.write(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 3)).decode(errors="replace")
    finally:
        writer.close()
        await writer.wait_closed()


async def test_services_connect_with_their_inbox(authed_nats: tuple[str, dict[str, str]]) -> None:
    """Every service user can do its own round trip (the broker answers, each reads its reply)."""
    url, passwords = authed_nats
    broker, broker_errors = await connect_as(url, "broker", passwords["broker"])

    async def echo(msg: Any) -> None:
        await msg.respond(b"ok:" + msg.data)

    used = {
        "gateway": SUBJECTS.broker_ping,
        "dashboard": SUBJECTS.pool_status,
        "oauth": SUBJECTS.credential_add,
    }
    for subject in used.values():
        await broker.subscribe(subject, cb=echo)
    await broker.flush()
    try:
        for service, subject in used.items():
            nc, errors = await connect_as(url, service, passwords[service])
            try:
                reply = await nc.request(subject, service.encode(), timeout=3)
                assert reply.data == b"ok:" + service.encode()
                assert not errors
            finally:
                await nc.close()
        assert not broker_errors
    finally:
        await broker.close()


async def test_make_run_nats_refuses_anonymous_clients(tmp_path: Path) -> None:
    """`make run`'s NATS before this change took anyone (nats.connect(url) with no user)."""
    port = free_port()
    passwords = {name: secrets.token_urlsafe(16) for name in SERVICES}
    conf = write_private(tmp_path / "nats.conf", render_nats_conf(passwords, port=port))
    server = NatsServer(tmp_path / "logs", port=port, config_file=conf)
    server.start()
    try:
        assert "authorization violation" in (await raw_connect(server.url, None)).lower()
        assert (await raw_connect(server.url, ("gateway", passwords["gateway"]))).startswith("PONG")
    finally:
        server.stop()


# ---- the permissions stay complete and the same in both places


def _subject_matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


SOURCES = {
    "gateway": REPO / "services" / "gateway" / "src",
    "broker": REPO / "services" / "token-broker" / "src",
    "dashboard": REPO / "services" / "dashboard" / "src",
    "oauth": REPO / "services" / "oauth" / "src",
}
# The bus table's entries by constant name (LEASE_ACQUIRE -> its `Subjects` attribute name).
TABLE = {
    constant: entry.name
    for constant, entry in vars(bus).items()
    if isinstance(entry, Endpoint | Event) and constant.isupper()
}


def _used_subjects(source: str) -> set[str]:
    """`Subjects` attribute names a module uses: `subjects.<name>` or a bus-table constant."""
    named = set(re.findall(r"subjects\.([a-z_]+)", source)) - {"namespace"}
    return named | {TABLE[c] for c in re.findall(r"\b([A-Z][A-Z_]+)\b", source) if c in TABLE}


@pytest.mark.parametrize("service", sorted(SOURCES))
def test_every_subject_a_service_uses_is_permitted(service: str) -> None:
    """A subject added to a service's code without its permission would fail under make run
    and in every deployment: add it to kiro_testing/busauth.py and deploy/nats/nats.conf."""
    perms = nats_permissions()[service]
    used = {
        name for path in SOURCES[service].rglob("*.py") for name in _used_subjects(path.read_text("utf-8"))
    }
    assert used, service
    for name in sorted(used):
        subject = getattr(SUBJECTS, name)
        allowed = [*perms.publish, *perms.subscribe]
        assert any(_subject_matches(p, subject) for p in allowed), f"{service} uses {subject}, not permitted"


def _shipped_permissions() -> dict[str, tuple[set[str], set[str]]]:
    text = (REPO / "deploy" / "nats" / "nats.conf").read_text(encoding="utf-8")
    out: dict[str, tuple[set[str], set[str]]] = {}
    for block in re.split(r"(?m)^\s*user: ", text)[1:]:
        name = block.split()[0]
        publish = re.search(r"publish: \{\s*allow: \[([^\]]*)\]", block)
        subscribe = re.search(r"subscribe: \{\s*allow: \[([^\]]*)\]", block)
        assert publish and subscribe, name
        out[name] = (
            set(re.findall(r'"([^"]+)"', publish.group(1))),
            set(re.findall(r'"([^"]+)"', subscribe.group(1))),
        )
    return out


def test_deploy_ships_the_permissions_make_run_generates() -> None:
    shipped = _shipped_permissions()
    generated = nats_permissions("kiro")
    assert set(shipped) == set(generated)
    for name, perms in generated.items():
        assert shipped[name] == (set(perms.publish), set(perms.subscribe)), name
