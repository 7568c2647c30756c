"""kiro_service.MetricsServer: the keyless /metrics port every service can turn on."""

from __future__ import annotations

import asyncio

import httpx

from kiro_service import MetricsServer


async def test_serves_metrics_only() -> None:
    server = MetricsServer(lambda: b"# TYPE x counter\nx_total 1.0\n", host="127.0.0.1", port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            r = await http.get("/metrics?x=1")
            assert r.status_code == 200 and r.text.endswith("x_total 1.0\n")
            assert r.headers["content-type"].startswith("text/plain")
            head = await http.head("/metrics")
            assert head.status_code == 200 and head.content == b""
            assert (await http.get("/")).status_code == 404
            assert (await http.get("/metrics/")).status_code == 404
            assert (await http.post("/metrics")).status_code == 405
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /metrics HTTP/1.1\r\nx: " + b"a" * 20_000 + b"\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5.0)
        assert answer.startswith(b"HTTP/1.1 431")
        writer.close()
    finally:
        await server.close()


async def test_a_failing_render_does_not_stop_the_port() -> None:
    calls = 0

    def render() -> bytes:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("collector broke")
        return b"ok\n"

    server = MetricsServer(render, host="127.0.0.1", port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            try:
                await http.get("/metrics")
            except httpx.HTTPError:
                pass
            assert (await http.get("/metrics")).text == "ok\n"
    finally:
        await server.close()
