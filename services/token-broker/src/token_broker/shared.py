"""`Shared`: what one broker instance owns before it connects and keeps across its life
(`runtime.Broker` makes it; the parts built from it, such as the bus service, read it)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from kiroproto.bus import Subjects
from token_broker.keys import RedisKeys
from token_broker.metrics import BrokerMetrics
from token_broker.settings import Settings
from token_broker.tasks import TaskSet
from token_broker.telemetry import Telemetry


@dataclass(slots=True)
class Shared:
    settings: Settings
    metrics: BrokerMetrics
    keys: RedisKeys
    subjects: Subjects
    telemetry: Telemetry
    handlers: TaskSet  # bus requests in flight (drained at stop)
    background: TaskSet  # refreshes, jobs, heartbeats (cancelled at stop)
    transport: httpx.AsyncBaseTransport | None  # tests: the upstream as a mock
    run_jobs: bool
