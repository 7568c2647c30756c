"""The replica's traffic reports on a real nats-server: one message per interval carrying every
finished request, nothing while idle, the rest at close, nothing lost while the bus is away."""

from __future__ import annotations

import asyncio
import uuid

from gateway.traffic import TrafficPublisher
from kiro_service.bus import BusClient
from kiro_testing import NatsServer
from kiroproto.bus import TRAFFIC_EVENTS, TrafficReport
from kiroproto.traffic import FinishedRequest


def _finished(at: float) -> FinishedRequest:
    return FinishedRequest(at=at, api="openai", model="m", status=200, stream=False, duration_ms=12.0)


def _requests(reports: list[TrafficReport]) -> int:
    return sum(entry.counts.get("n", 0) for report in reports for entry in report.seconds)


async def test_requests_travel_in_one_report_per_interval(nats_server: NatsServer) -> None:
    ns = f"t{uuid.uuid4().hex[:8]}"
    reports: asyncio.Queue[TrafficReport] = asyncio.Queue()
    listener = BusClient(nats_server.url, service="dashboard", namespace=ns)
    await listener.subscribe(TRAFFIC_EVENTS, reports.put)
    await listener.start(wait_s=5)
    bus = BusClient(nats_server.url, service="gateway", namespace=ns)
    await bus.start(wait_s=5)
    publisher = TrafficPublisher(bus, interval_s=0.2, replica="gw-a")
    publisher.start()
    try:
        for i in range(50):
            publisher.add(_finished(1_000.0 + i / 100))
        first = await asyncio.wait_for(reports.get(), 5)
        assert first.replica == "gw-a" and _requests([first]) == 50  # one message for all of them
        await asyncio.sleep(0.6)
        assert reports.empty()  # idle: nothing is sent
        publisher.add(_finished(2_000.0))
    finally:
        await publisher.close()  # publishes what is left
        last = await asyncio.wait_for(reports.get(), 5)
        assert _requests([last]) == 1
        await bus.close()
        await listener.close()


async def test_counts_wait_for_the_bus_instead_of_being_lost(nats_server: NatsServer) -> None:
    ns = f"t{uuid.uuid4().hex[:8]}"
    bus = BusClient(nats_server.url, service="gateway", namespace=ns)  # not started: disconnected
    publisher = TrafficPublisher(bus, interval_s=0.05)
    publisher.add(_finished(1_000.0))
    publisher.add(_finished(1_001.0))
    await publisher.flush()
    assert len(publisher.tally) == 2  # kept for later

    reports: asyncio.Queue[TrafficReport] = asyncio.Queue()
    listener = BusClient(nats_server.url, service="dashboard", namespace=ns)
    await listener.subscribe(TRAFFIC_EVENTS, reports.put)
    await listener.start(wait_s=5)
    await bus.start(wait_s=5)
    try:
        await publisher.flush()
        assert _requests([await asyncio.wait_for(reports.get(), 5)]) == 2
        assert len(publisher.tally) == 0
    finally:
        await publisher.close()
        await bus.close()
        await listener.close()
