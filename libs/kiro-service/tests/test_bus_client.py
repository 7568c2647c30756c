"""The one bus client against a real nats-server: typed replies, the error tree, events, trace
headers, the observer, and starting while NATS is away."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kiro_service.bus import (
    ERROR_CODE_HEADER,
    ERROR_HEADER,
    BusBadReply,
    BusClient,
    BusError,
    BusRefused,
    BusUnavailable,
    call_once,
    refusal,
)
from kiro_testing import NatsServer, free_port
from kiroproto.bus import (
    BROKER_PING,
    CREDENTIAL_EVENTS,
    LEASE_RENEW,
    Ack,
    BrokerPing,
    BrokerPong,
    CredentialEvent,
    CredentialStatusKind,
    Endpoint,
    LeaseRenew,
    ServiceErrorCode,
)


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("bus-nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ns() -> str:
    return "b" + uuid.uuid4().hex[:8]


async def _answer(url: str, subject: str, reply: bytes, headers: dict[str, str] | None = None) -> Any:
    """A stand-in service answering `subject` with fixed bytes (and headers)."""
    nc = await nats.connect(url)

    async def respond(msg: Msg) -> None:
        await nc.publish(msg.reply, reply, headers=headers)

    await nc.subscribe(subject, cb=respond)
    await nc.flush()
    return nc


def test_refusal_reads_the_micro_error_headers() -> None:
    assert refusal({}) is None
    refused = refusal({ERROR_HEADER: "the broker cannot reach Redis", ERROR_CODE_HEADER: "503"})
    assert refused is not None and refused.code is ServiceErrorCode.UNAVAILABLE
    assert refused.description == "the broker cannot reach Redis"
    odd = refusal({ERROR_HEADER: "teapot", ERROR_CODE_HEADER: "418"})
    assert odd is not None and odd.code is ServiceErrorCode.INTERNAL  # outside the table
    assert issubclass(BusRefused, BusError) and issubclass(BusUnavailable, BusError)
    assert issubclass(BusBadReply, BusError)


async def test_a_typed_round_trip_with_observer_and_trace_headers(nats_server: NatsServer, ns: str) -> None:
    seen: list[tuple[str, BusError | None]] = []
    headers: list[dict[str, str]] = []
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    server = await nats.connect(nats_server.url)

    async def pong(msg: Msg) -> None:
        headers.append(dict(msg.headers or {}))
        BrokerPing.model_validate_json(msg.data)
        await msg.respond(BrokerPong(instance_id="b1", redis_ok=True).model_dump_json().encode())

    await server.subscribe(BROKER_PING.subject(ns), cb=pong)
    await server.flush()
    client = BusClient(
        nats_server.url,
        service="gateway",
        namespace=ns,
        observer=lambda endpoint, _s, error: seen.append((endpoint.name, error)),
        tracer=lambda: tracer,
    )
    await client.start(wait_s=5)
    try:
        reply = await client.call(BROKER_PING, BrokerPing(), timeout_s=5)
        assert isinstance(reply, BrokerPong) and reply.instance_id == "b1"
        assert seen == [("broker_ping", None)]
        assert "traceparent" in headers[0]
        (span,) = exporter.get_finished_spans()
        assert span.name == "kiro.bus broker_ping"
        assert headers[0]["traceparent"].split("-")[1] == format(span.context.trace_id, "032x")
    finally:
        await client.close()
        await server.drain()


async def test_every_failure_is_one_typed_error(nats_server: NatsServer, ns: str) -> None:
    errors: list[BusError | None] = []
    client = BusClient(
        nats_server.url, service="gateway", namespace=ns, observer=lambda _e, _s, err: errors.append(err)
    )
    await client.start(wait_s=5)
    renew = LeaseRenew(lease_id="l", credential_id="c")
    stand_ins = []
    try:
        with pytest.raises(BusUnavailable, match="nothing answers lease.renew"):
            await client.call(LEASE_RENEW, renew, timeout_s=5)
        stand_ins.append(
            await _answer(
                nats_server.url, LEASE_RENEW.subject(ns), b"", {ERROR_HEADER: "bad", ERROR_CODE_HEADER: "400"}
            )
        )
        refused = await _once_answered(lambda: client.call(LEASE_RENEW, renew, timeout_s=5))
        assert isinstance(refused, BusRefused)
        assert refused.code is ServiceErrorCode.BAD_REQUEST and refused.description == "bad"
        stand_ins.append(await _answer(nats_server.url, BROKER_PING.subject(ns), b'{"ok": "no"}'))
        garbled = await _once_answered(lambda: client.call(BROKER_PING, BrokerPing(), timeout_s=5))
        assert isinstance(garbled, BusBadReply)
        silent = Endpoint("silent", "silent.call", BrokerPing, Ack)
        quiet = await nats.connect(nats_server.url)
        stand_ins.append(quiet)
        await quiet.subscribe(silent.subject(ns), cb=_ignore)  # subscribed, never answers
        await quiet.flush()
        silence = await _until_subscribed(client, silent)  # interest seen from the client's side
        assert "within 0.2s" in str(silence)
        assert _no_responders(errors[0])
        seen = [type(e) for e in errors[1:] if not _no_responders(e)]  # less the retries above
        assert seen[:2] == [BusRefused, BusBadReply]
        assert seen[2:] and all(kind is BusUnavailable for kind in seen[2:])
    finally:
        await client.close()
        for nc in stand_ins:
            await nc.drain()
    with pytest.raises(BusUnavailable, match="not connected"):
        await client.call(BROKER_PING, BrokerPing(), timeout_s=1)
    with pytest.raises(BusUnavailable):
        await client.publish(CREDENTIAL_EVENTS, _event())


def _no_responders(error: BusError | None) -> bool:
    return isinstance(error, BusUnavailable) and "nothing answers" in str(error)


async def _once_answered(call: Callable[[], Awaitable[object]]) -> BusError:
    """The error of a call to a stand-in that has just subscribed. On a loaded machine the
    client's connection may still answer "no responders" for a moment after the stand-in's
    flush; that is retried for up to 5 s."""
    deadline = asyncio.get_running_loop().time() + 5.0
    while True:
        with pytest.raises(BusError) as failed:
            await call()
        if not _no_responders(failed.value) or asyncio.get_running_loop().time() > deadline:
            return failed.value
        await asyncio.sleep(0.05)


async def _ignore(_msg: Msg) -> None:
    return None


async def _until_subscribed(client: BusClient, endpoint: Endpoint[BrokerPing, Ack]) -> BusUnavailable:
    """The error of a call to a subscriber that never answers. A loaded machine once answered "no
    responders" right after the subscriber's flush (seen from another connection); such an
    answer is retried for up to 5 s, a timeout is what the test wants."""
    deadline = asyncio.get_running_loop().time() + 5.0
    while True:
        with pytest.raises(BusUnavailable) as failed:
            await client.call(endpoint, BrokerPing(), timeout_s=0.2)
        if "nothing answers" not in str(failed.value) or asyncio.get_running_loop().time() > deadline:
            return failed.value
        await asyncio.sleep(0.05)


def _event() -> CredentialEvent:
    return CredentialEvent(credential_id="c", status=CredentialStatusKind.ACTIVE, at=1.0)


async def test_events_are_typed_and_malformed_ones_dropped(nats_server: NatsServer, ns: str) -> None:
    got: asyncio.Queue[CredentialEvent] = asyncio.Queue()
    malformed: list[int] = []
    listener = BusClient(nats_server.url, service="dashboard", namespace=ns)
    await listener.subscribe(CREDENTIAL_EVENTS, got.put, on_malformed=lambda: malformed.append(1))
    await listener.start(wait_s=5)
    publisher = BusClient(nats_server.url, service="broker", namespace=ns)
    await publisher.start(wait_s=5)
    raw = await nats.connect(nats_server.url)
    try:
        await raw.publish(CREDENTIAL_EVENTS.subject(ns), b"[]")
        await raw.flush()
        await publisher.publish(CREDENTIAL_EVENTS, _event())
        assert await asyncio.wait_for(got.get(), 5) == _event()
        assert malformed == [1]
    finally:
        await raw.drain()
        await publisher.close()
        await listener.close()


async def test_starts_without_nats_and_connects_when_it_comes(tmp_path: Path, ns: str) -> None:
    port = free_port()
    connections: list[bool] = []
    client = BusClient(
        f"nats://127.0.0.1:{port}", service="gateway", namespace=ns, on_connection=connections.append
    )
    await client.start(wait_s=0.3)  # returns: nothing listens yet
    assert not client.connected
    with pytest.raises(BusUnavailable):
        await call_once(
            f"nats://127.0.0.1:{port}", BROKER_PING, BrokerPing(), service="gateway", timeout_s=0.3
        )
    server = NatsServer(tmp_path / "late-nats", port=port)
    await asyncio.to_thread(server.start)
    try:
        for _ in range(200):
            if client.connected:
                break
            await asyncio.sleep(0.05)
        assert client.connected and connections == [True]
    finally:
        await client.close()
        await asyncio.to_thread(server.stop)
    assert connections[-1] is False
