"""The lean HTTP/1.1 transport (gateway.h1) against a real local server scripted per test:
keep-alive reuse, chunked and close-delimited bodies, torn bodies, timeouts, the pool limit,
and UpstreamClient's direct path through it."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from gw_fakes import lease_grant
from gw_helpers import make_settings

from gateway.h1 import H1Transport
from gateway.upstream import UpstreamClient, UpstreamFailure
from kiroproto.bus import LeaseGrant, Outcome

Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    port: int
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + (await reader.readexactly(length) if length else b"")


@asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """A loopback server: `handler(request_bytes, writer)` answers each request on a connection."""
    state = Server(0)
    writers: set[asyncio.StreamWriter] = set()
    tasks: set[asyncio.Task[None]] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            tasks.add(task)
        try:
            while not writer.is_closing():
                request = await _read_request(reader)
                if request is None:
                    break
                state.requests.append(request)
                await handler(request, writer)
        except ConnectionError:
            pass
        finally:
            writer.close()
            writers.discard(writer)

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0, ssl=tls)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for writer in list(writers):
            writer.close()  # the handlers see the end of their connection and return
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        await server.wait_closed()


def ok(body: bytes = b"hello", *extra: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n" % len(body) + b"".join(extra)
    return head + b"\r\n" + body


def transport(max_connections: int = 10) -> H1Transport:
    return H1Transport(max_connections=max_connections, max_keepalive_connections=10, keepalive_expiry=30.0)


@asynccontextmanager
async def client_of(handler: Handler) -> AsyncIterator[tuple[Server, H1Transport]]:
    """`serving(handler)` and a transport that talks to it, closed at the end."""
    async with serving(handler) as server:
        t = transport()
        try:
            yield server, t
        finally:
            await t.aclose()


async def until_idle_connections_closed(t: H1Transport, within: float = 5.0) -> None:
    """Poll (deadline, no fixed sleep) until the server's close has reached every idle connection."""
    deadline = asyncio.get_running_loop().time() + within
    while any(not conn.is_lost for idle in t._idle.values() for conn in idle):
        assert asyncio.get_running_loop().time() < deadline, "the server's close never arrived"
        await asyncio.sleep(0.01)


Extensions = dict[str, dict[str, float | None]]
TIMEOUTS: Extensions = {"timeout": httpx.Timeout(2.0).as_dict()}


async def post(
    t: H1Transport, port: int, body: bytes = b"{}", extensions: Extensions | None = None
) -> httpx.Response:
    request = httpx.Request(
        "POST",
        f"http://127.0.0.1:{port}/generateAssistantResponse?x=1",
        content=body,
        headers={"authorization": "Bearer t"},
        extensions=extensions or TIMEOUTS,
    )
    return await t.handle_async_request(request)


async def test_keep_alive_reuses_one_connection_and_sends_the_request_as_given() -> None:
    async def handler(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(ok(b'{"ok":true}'))

    async with client_of(handler) as (server, t):
        for _ in range(3):
            response = await post(t, server.port, b'{"a":1}')
            assert response.status_code == 200
            assert await response.aread() == b'{"ok":true}'
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /generateAssistantResponse?x=1 HTTP/1.1\r\n")
    assert b"\r\nauthorization: Bearer t\r\n" in first
    assert b"content-length: 7\r\n" in first.lower()
    assert first.endswith(b'\r\n\r\n{"a":1}')


async def test_chunked_body_arrives_in_pieces() -> None:
    async def handler(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n"
        )
        for piece in (b"abc", b"defg", b"h"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")

    async with client_of(handler) as (server, t):
        response = await post(t, server.port)
        assert response.headers["content-type"] == "application/json"
        chunks = [chunk async for chunk in response.aiter_raw()]
        assert b"".join(chunks) == b"abcdefgh"
        assert len(chunks) >= 2  # streamed, not collected
        again = await post(t, server.port)
        await again.aread()
    assert server.connections == 1


async def test_a_torn_chunked_body_is_a_protocol_error_and_the_connection_is_dropped() -> None:
    async def handler(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nabcde\r\n")
        await writer.drain()
        writer.close()

    async with client_of(handler) as (server, t):
        response = await post(t, server.port)
        with pytest.raises(httpx.RemoteProtocolError):
            async for _ in response.aiter_raw():
                pass
        await response.aclose()
        response = await post(t, server.port)  # a new connection
        with pytest.raises(httpx.RemoteProtocolError):
            await response.aread()
    assert server.connections == 2


async def test_a_body_delimited_by_close_ends_at_eof() -> None:
    async def handler(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
        await writer.drain()
        writer.close()

    async with client_of(handler) as (server, t):
        response = await post(t, server.port)
        assert await response.aread() == b"until the end"


async def test_an_idle_connection_closed_by_the_server_is_not_reused() -> None:
    async def handler(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(ok())
        await writer.drain()
        writer.close()  # like a keep-alive timeout right after the answer

    async with client_of(handler) as (server, t):
        for _ in range(2):
            response = await post(t, server.port)
            assert await response.aread() == b"hello"
            await until_idle_connections_closed(t)
    assert server.connections == 2


async def test_error_status_with_headers_and_body() -> None:
    async def handler(_: bytes, writer: asyncio.StreamWriter) -> None:
        body = b'{"message":"slow down"}'
        writer.write(
            b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: %d\r\nretry-after: 3\r\n\r\n" % len(body)
        )
        writer.write(body)

    async with client_of(handler) as (server, t):
        response = await post(t, server.port)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "3"
        assert await response.aread() == b'{"message":"slow down"}'


async def test_connect_error_and_read_timeout() -> None:
    t = transport()
    try:
        async with serving(lambda _r, _w: asyncio.sleep(0)) as server:
            port = server.port
        with pytest.raises(httpx.ConnectError):
            await post(t, port)

        async def silent(_: bytes, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(0.5)  # longer than the read timeout below

        async with serving(silent) as server:
            with pytest.raises(httpx.ReadTimeout):
                await post(t, server.port, extensions={"timeout": httpx.Timeout(2.0, read=0.1).as_dict()})
    finally:
        await t.aclose()


async def test_an_unread_body_closes_its_connection() -> None:
    async def handler(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.write(b"0\r\n\r\n")

    async with client_of(handler) as (server, t):
        response = await post(t, server.port)
        await response.aclose()  # a client went away mid-answer
        second = await post(t, server.port)
        await second.aread()
    assert server.connections == 2


async def test_the_pool_limit_makes_a_request_wait_then_time_out() -> None:
    release = asyncio.Event()

    async def handler(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"0\r\n\r\n")

    async with serving(handler) as server:
        t = transport(max_connections=1)
        try:
            first = await post(t, server.port)
            with pytest.raises(httpx.PoolTimeout):
                await post(t, server.port, extensions={"timeout": httpx.Timeout(2.0, pool=0.05).as_dict()})
            waiting = asyncio.create_task(post(t, server.port))
            release.set()
            await first.aread()
            second = await waiting
            await second.aread()
        finally:
            await t.aclose()


def grant() -> LeaseGrant:
    return lease_grant(access_token="tok", machine_id="a" * 64)


async def test_upstream_client_uses_the_lean_transport_for_direct_egress() -> None:
    answers = [
        b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 2\r\nretry-after: 7\r\n\r\n{}",
        ok(b"frames"),
    ]

    async def handler(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(answers.pop(0))

    async with serving(handler) as server:
        client = UpstreamClient(
            make_settings(
                kiro_api_base_url=f"http://127.0.0.1:{server.port}",
                kiro_region="us-east-1",
                gateway_connect_timeout=1,
                gateway_read_timeout=1,
                gateway_max_connections=4,
            )
        )
        try:
            with pytest.raises(UpstreamFailure) as failure:
                await client.open_chat(grant(), b'{"conversationState":{}}')
            assert failure.value.failure.outcome == Outcome.THROTTLED
            assert failure.value.failure.retry_after_s == 7.0
            response = await client.open_chat(grant(), b"{}")
            assert b"".join([chunk async for chunk in response.aiter_raw()]) == b"frames"
            await response.aclose()
            assert client._clients == {}  # nothing went through httpx.AsyncClient
        finally:
            await client.aclose()
    request = server.requests[0].lower()
    assert request.startswith(b"post /generateassistantresponse http/1.1\r\n")
    assert b"\r\nauthorization: bearer tok\r\n" in request
    assert server.connections == 1


async def test_post_builds_the_request_itself_and_refuses_header_injection() -> None:
    async def handler(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(ok(b"done"))

    async with serving(handler) as server:
        t = transport()
        url = httpx.URL(f"http://127.0.0.1:{server.port}/generateAssistantResponse")
        try:
            response = await t.post(
                url, {"authorization": "Bearer x"}, b'{"b":2}', httpx.Timeout(2.0).as_dict()
            )
            assert await response.aread() == b"done"
            with pytest.raises(httpx.LocalProtocolError):
                await t.post(
                    url, {"authorization": "Bearer x\r\nevil: 1"}, b"{}", httpx.Timeout(2.0).as_dict()
                )
        finally:
            await t.aclose()
    assert server.requests == [
        b"POST /generateAssistantResponse HTTP/1.1\r\nhost: 127.0.0.1:%d\r\ncontent-length: 7\r\n"
        b"authorization: Bearer x\r\n\r\n" % server.port + b'{"b":2}'
    ]


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting only that server's certificate) for `localhost`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


async def test_https_with_certificate_verification(tmp_path: Path) -> None:
    server_ctx, client_ctx = self_signed(tmp_path)

    async def handler(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(ok(b"secret"))

    async with serving(handler, tls=server_ctx) as server:
        trusting = H1Transport(
            max_connections=2, max_keepalive_connections=2, keepalive_expiry=30.0, ssl_context=client_ctx
        )
        default = transport()  # the system / certifi roots: a self-signed certificate is refused
        url = httpx.URL(f"https://localhost:{server.port}/generateAssistantResponse")
        try:
            for _ in range(2):
                response = await trusting.post(url, {}, b"{}", httpx.Timeout(5.0).as_dict())
                assert await response.aread() == b"secret"
            with pytest.raises(httpx.ConnectError):
                await default.post(url, {}, b"{}", httpx.Timeout(5.0).as_dict())
        finally:
            await trusting.aclose()
            await default.aclose()
    assert server.requests[0].startswith(b"POST /generateAssistantResponse HTTP/1.1\r\nhost: localhost:")
