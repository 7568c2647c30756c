"""The reliability suite's own parts: the round-robin front, the answer checks, the scanner."""

from __future__ import annotations

import asyncio

import httpx
import orjson

from kiro_testing import free_port
from kiro_testing.chaos.ledger import RequestRecord, cut_on_a_kill, scan_for_secrets, usage_result
from kiro_testing.chaos.load import check_stream, classify_error
from kiro_testing.front import RoundRobinFront


async def _tiny_server(name: bytes) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s" % (len(name), name)
        )
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_front_skips_a_dead_backend_and_round_robins_the_rest() -> None:
    a, b = await _tiny_server(b"a"), await _tiny_server(b"b")
    dead = free_port()
    ports = [a.sockets[0].getsockname()[1], dead, b.sockets[0].getsockname()[1]]
    front = RoundRobinFront([("127.0.0.1", p) for p in ports], ready_path=None)
    await front.start()
    try:
        seen = []
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{front.port}", limits=limits) as http:
            for _ in range(6):
                seen.append((await http.get("/")).text)
        assert sorted(set(seen)) == ["a", "b"]
        assert seen.count("a") >= 2 and seen.count("b") >= 2
        assert front.backends[1].connections == 0 and front.backends[1].refused >= 1
    finally:
        await front.stop()
        for server in (a, b):
            server.close()
            await server.wait_closed()


def _record(stream: bool = True) -> RequestRecord:
    return RequestRecord(1, 0, "t", "anthropic", stream, started=0.0)


def test_stream_without_its_final_event_is_a_cut() -> None:
    r = _record()
    check_stream(r, "anthropic", ["event: message_start", 'data: {"type":"message_start","message":{}}'], "x")
    assert (r.ok, r.klass) == (False, "cut")


def test_stream_must_echo_the_tag() -> None:
    lines = [
        'data: {"type":"content_block_delta","delta":{"text":"Echo: chaos-1"}}',
        'data: {"type":"message_delta","usage":{"output_tokens":3}}',
        'data: {"type":"message_stop"}',
    ]
    good, bad = _record(), _record()
    check_stream(good, "anthropic", lines, "chaos-1")
    check_stream(bad, "anthropic", lines, "chaos-2")
    assert good.ok and good.output_tokens == 3
    assert (bad.ok, bad.klass) == (False, "wrong_answer")


def test_error_bodies_are_classified_by_shape() -> None:
    r = _record(False)
    r.status = 529
    classify_error(
        r, "anthropic", orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "x"}})
    )
    assert r.klass == "overloaded"
    r2 = _record(False)
    r2.status = 503
    classify_error(r2, "openai", b"<html>bad gateway</html>")
    assert r2.klass == "bad_shape"


def test_scanner_finds_tokens_and_known_secrets() -> None:
    logs = {
        "a.log": "ok line\nrefresh with aor" + "x" * 60 + "\n",
        "b.log": 'key "super-secret-key-123" used\nfingerprint sha256:abcdef\n',
    }
    found = scan_for_secrets(logs, ["super-secret-key-123"])
    assert [f.split(":")[0] for f in found] == ["a.log", "b.log"]
    assert "aorxxxx" not in "".join(found)  # findings never repeat the secret


def test_usage_may_exceed_what_clients_were_told_only_for_requests_cut_after_the_write_ahead() -> None:
    # regression: a gateway SIGKILLed after writing a stream's usage ahead, before the client got
    # the last bytes, left the broker with one request more than clients were told (CI failure)
    assert usage_result(132, 132, 0) == "equal"
    assert usage_result(132, 133, 1) == "written ahead"
    assert usage_result(132, 133, 0) == "DIFFERENT"  # an excess no cut request explains
    assert usage_result(132, 134, 1) == "DIFFERENT"  # more excess than cut requests
    assert usage_result(133, 132, 5) == "DIFFERENT"  # a lost record is never allowed


def test_only_a_cut_attributed_to_a_fault_counts_as_cut_on_a_kill() -> None:
    record = RequestRecord(id=1, client=0, team="team0", api="anthropic", stream=True, started=0.0)
    record.klass, record.verdict = "cut", "SIGKILL gateway 1"
    assert cut_on_a_kill(record)
    record.verdict = "OUTSIDE THE RULES"
    assert not cut_on_a_kill(record)
    record.klass, record.verdict = "overloaded", "NATS restart"
    assert not cut_on_a_kill(record)
