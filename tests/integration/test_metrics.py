"""`/metrics` of every service after scripted traffic, with exact counts (deltas around the traffic,
summed over the gateway replicas), and every metric of deploy/METRICS.md present in a scrape."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kiro_testing import PythonService, free_port
from kiro_testing.polling import poll
from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim
from kiro_testing.stack import CLIENT_TOKEN
from tests.integration.teams import ADMIN_TOKEN, MODEL, Teams, message_body, team_stack

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
METRICS_MD = Path(__file__).resolve().parents[2] / "deploy" / "METRICS.md"


@pytest.fixture(scope="module")
def stack(sim: Sim, module_stacks: Stacks) -> Iterator[Teams]:
    # the figures below count one lease per request: without slot reuse (gateway/slots.py)
    with team_stack(module_stacks, sim, reuse=False) as s:
        yield s


ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}  # /metrics on a service's own port


def scrape(url: str) -> Samples:
    text = httpx.get(url + "/metrics", headers=ADMIN, timeout=10.0).text
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def total(samples: list[Samples], name: str, **labels: str) -> float:
    """Sum of `name` over every series whose labels include `labels`, over several scrapes."""
    want = set(labels.items())
    return sum(v for s in samples for (n, ls), v in s.items() if n == name and want <= ls)


class Services:
    def __init__(self, stack: Teams) -> None:
        self.gateways = [stack.pool.gateway_url(i) for i in range(len(stack.pool.gateways))]
        self.broker = f"http://127.0.0.1:{stack.pool.brokers[0].env['BROKER_PORT']}"
        self.dashboard = stack.dashboard_url

    def gateway_samples(self) -> list[Samples]:
        return [scrape(url) for url in self.gateways]


def test_metrics_after_scripted_traffic(stack: Teams) -> None:
    name = f"metrics-{uuid.uuid4().hex[:6]}"
    key, _ = stack.create_key(name, requests_per_minute=5, allowed_models=["claude-sonnet*"])
    svc = Services(stack)
    gw_before, broker_before = svc.gateway_samples(), [scrape(svc.broker)]
    dash_before = [scrape(svc.dashboard)]

    statuses: list[int] = []
    told_in = told_out = 0
    with httpx.Client(timeout=30.0) as http:
        for i in range(3):  # non-streaming, alternating replicas
            r = http.post(
                svc.gateways[i % 2] + "/v1/messages", json=message_body(), headers={"x-api-key": key}
            )
            statuses.append(r.status_code)
            told_in += r.json()["usage"]["input_tokens"]
            told_out += r.json()["usage"]["output_tokens"]
        with http.stream(
            "POST",
            svc.gateways[1] + "/v1/messages",
            json=message_body(stream=True),
            headers={"x-api-key": key},
        ) as r:
            statuses.append(r.status_code)
            events = sum(1 for line in r.iter_lines() if line.startswith("event: "))
        forbidden = http.post(
            svc.gateways[0] + "/v1/messages",
            json=message_body(model="claude-haiku-4-5"),
            headers={"x-api-key": key},
        )
        statuses.append(forbidden.status_code)
        last = http.post(svc.gateways[0] + "/v1/messages", json=message_body(), headers={"x-api-key": key})
        statuses.append(last.status_code)
        limited = http.post(svc.gateways[1] + "/v1/messages", json=message_body(), headers={"x-api-key": key})
        statuses.append(limited.status_code)
        operator = http.post(
            svc.gateways[0] + "/v1/messages", json=message_body(), headers={"x-api-key": CLIENT_TOKEN}
        )
        statuses.append(operator.status_code)
        usage_calls = 2
        for _ in range(usage_calls):
            assert stack.admin.get("/api/usage", params={"team": name}).status_code == 200
        assert http.get(svc.dashboard + "/readyz").status_code == 200  # one Redis PING
    assert statuses == [200, 200, 200, 200, 403, 200, 429, 200]
    told_in += last.json()["usage"]["input_tokens"]
    told_out += last.json()["usage"]["output_tokens"]

    # usage records are delivered in the background: wait until both gateways have sent them
    def delivered() -> list[Samples] | None:
        after = svc.gateway_samples()
        sent = total(after, "gateway_usage_records_total", result="sent") - total(
            gw_before, "gateway_usage_records_total", result="sent"
        )
        return after if sent == 7 else None

    gw_after = poll(delivered, timeout=10.0, message="7 usage records sent")
    broker_after, dash_after = [scrape(svc.broker)], [scrape(svc.dashboard)]

    def delta(before: list[Samples], after: list[Samples], metric: str, **labels: str) -> float:
        return total(after, metric, **labels) - total(before, metric, **labels)

    g = functools.partial(delta, gw_before, gw_after)
    b = functools.partial(delta, broker_before, broker_after)

    # gateway: requests by route / model / team / status, tokens by team, streams, bus round trips
    assert g("gateway_requests_total", route="messages", team=name, status="200") == 5
    assert (
        g("gateway_requests_total", route="messages", team=name, model="claude-sonnet-4.6", status="200") == 5
    )
    assert g("gateway_requests_total", route="messages", team=name, status="403") == 1
    assert g("gateway_requests_total", route="messages", team=name, status="429") == 1
    assert g("gateway_requests_total", route="messages", team="operator", status="200") == 1
    assert g("gateway_tokens_total", team=name, direction="input") >= told_in  # + the stream's
    assert g("gateway_tokens_total", team=name, direction="output") > told_out
    assert g("gateway_request_duration_seconds_count", route="messages") == 8
    assert g("gateway_time_to_first_token_seconds_count", route="messages") == 6
    assert g("gateway_stream_events_total", route="messages") > 0 and events > 0
    assert g("gateway_nats_request_duration_seconds_count", op="lease_acquire") == 7  # 6 served + 1 refused
    assert g("gateway_nats_request_duration_seconds_count", op="key_lookup") == 2  # once per replica
    assert g("gateway_usage_records_total", result="sent") == 7
    assert g("gateway_upstream_duration_seconds_count", outcome="success") == 6
    assert g("gateway_upstream_failovers_total") == 0
    assert total(gw_after, "gateway_requests_in_flight", route="messages") == 0
    assert total(gw_after, "gateway_usage_records_pending") == 0
    assert total(gw_after, "gateway_build_info") == 2

    # broker: leases, admissions, usage records, Redis scripts, bus handling
    assert b("kiro_broker_leases_granted_total") == 6
    assert b("kiro_broker_leases_released_total", outcome="success") == 6
    assert b("kiro_broker_team_admissions_total", team=name, result="ok") == 5
    assert b("kiro_broker_team_admissions_total", team=name, result="rpm") == 1
    assert b("kiro_broker_usage_records_total", outcome="ok") == 5
    assert b("kiro_broker_usage_records_total", outcome="rejected") == 2
    assert b("kiro_broker_redis_duration_seconds_count", script="admit") == 6
    assert b("kiro_broker_redis_duration_seconds_count", script="usage") == 7
    assert b("kiro_broker_redis_duration_seconds_count", script="acquire") == 6
    assert b("kiro_broker_nats_request_duration_seconds_count", endpoint="LeaseRequest") == 7
    assert b("kiro_broker_nats_request_duration_seconds_count", endpoint="KeyLookup") == 2
    assert b("kiro_broker_lease_wait_seconds_count") == 6
    assert total(broker_after, "kiro_broker_team_spent_tokens", team=name) == g(
        "gateway_tokens_total", team=name
    )
    assert total(broker_after, "kiro_broker_credentials", status="active") == 2
    assert total(broker_after, "kiro_broker_build_info") == 1

    # dashboard
    d = delta(dash_before, dash_after, "dashboard_http_requests_total", route="/api/usage", status="200")
    assert d == usage_calls
    assert (
        delta(dash_before, dash_after, "dashboard_nats_request_duration_seconds_count", call="usage.query")
        == usage_calls
    )
    ping = delta(dash_before, dash_after, "dashboard_redis_command_duration_seconds_count", command="PING")
    assert ping == 1
    assert total(dash_after, "dashboard_build_info") == 1


def test_every_documented_metric_is_exported(stack: Teams) -> None:
    """deploy/METRICS.md is the list the Grafana dashboard and alert rules use."""
    svc = Services(stack)
    key, _ = stack.create_key(f"doc-{uuid.uuid4().hex[:6]}", monthly_token_budget=10**9)
    with httpx.Client(timeout=30.0) as http:
        r = http.post(
            svc.gateways[0] + "/v1/messages", json=message_body(stream=True), headers={"x-api-key": key}
        )
        assert r.status_code == 200
    rows = [line for line in METRICS_MD.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    pattern = re.compile(r"\| `([a-z_]+)` \| (\w+) \| [^|]* \| (\w+) \|")
    documented = {
        m.group(1): m.group(3) for m in (pattern.match(r) for r in rows) if m and m.group(3) != "oauth"
    }
    assert len(documented) > 30
    texts = {
        "gateway": httpx.get(svc.gateways[0] + "/metrics", headers=ADMIN).text,
        "broker": httpx.get(svc.broker + "/metrics", headers=ADMIN).text,
        "dashboard": httpx.get(svc.dashboard + "/metrics", headers=ADMIN).text,
    }
    exported = {f.name for text in texts.values() for f in text_string_to_metric_families(text)}
    missing = sorted(n for n in documented if n.removesuffix("_total") not in exported and n not in exported)
    assert not missing, f"documented but not exported: {missing}"
    assert MODEL  # the default model resolves (used by message_body)


def test_several_workers_report_together(stack: Teams, tmp_path: Path) -> None:
    """GATEWAY_WORKERS=2 with PROMETHEUS_MULTIPROC_DIR: any worker's /metrics counts every worker."""
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    port, metrics_port = free_port(), free_port()
    env = {
        **stack.pool.service_env("gateway"),
        "KIRO_CLIENT_TOKEN": CLIENT_TOKEN,
        "PORT": str(port),
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_WORKERS": "2",
        "GATEWAY_METRICS_PORT": str(metrics_port),  # both workers share it (keyless, not public)
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }
    url = f"http://127.0.0.1:{port}"
    gateway = PythonService("gateway-workers", "gateway", stack.pool.log_dir, env, url + "/readyz")
    gateway.start()
    try:
        n = 8
        for _ in range(n):  # a new connection each time: the kernel spreads them over the workers
            r = httpx.post(
                url + "/v1/messages", json=message_body(), headers={"x-api-key": CLIENT_TOKEN}, timeout=30
            )
            assert r.status_code == 200
        pids = {p.name.rsplit("_", 1)[-1] for p in multiproc.glob("counter_*.db")}
        assert len(pids) == 2, pids  # both workers wrote values
        for _ in range(4):  # whichever worker answers the scrape reports all of them
            samples = [scrape(f"http://127.0.0.1:{metrics_port}")]
            assert (
                total(samples, "gateway_requests_total", route="messages", team="operator", status="200") == n
            )
            assert total(samples, "gateway_request_duration_seconds_count", route="messages") == n
            assert total(samples, "gateway_requests_in_flight", route="messages") == 0
    finally:
        gateway.stop()
