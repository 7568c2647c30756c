"""`Collectors` (a service's Prometheus collectors) and `KeySpace` (its Redis key base)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from kiro_service.keyspace import Key, KeyFamily, KeySpace
from kiro_service.metrics import Collectors, ServiceMetrics


def test_collectors_prefix_names_and_apply_defaults() -> None:
    registry = CollectorRegistry()
    c = Collectors(registry, "svc", buckets=(0.5, 1.0), gauge_mode="livesum")
    c.counter("hits_total", "Hits", ["route"]).labels("a").inc()
    c.gauge("open", "Open things").set(3)
    c.gauge("up", "Up", mode="livemin").set(1)
    c.histogram("wait_seconds", "Waits").observe(0.7)
    c.histogram("size_ratio", "Ratios", buckets=(2.0,)).observe(1.0)
    assert registry.get_sample_value("svc_hits_total", {"route": "a"}) == 1
    assert registry.get_sample_value("svc_open") == 3
    assert registry.get_sample_value("svc_up") == 1
    assert registry.get_sample_value("svc_wait_seconds_bucket", {"le": "0.5"}) == 0
    assert registry.get_sample_value("svc_wait_seconds_bucket", {"le": "1.0"}) == 1
    assert registry.get_sample_value("svc_size_ratio_bucket", {"le": "2.0"}) == 1
    assert registry.get_sample_value("svc_size_ratio_bucket", {"le": "1.0"}) is None


def test_service_metrics_hand_out_collectors_under_the_service_name() -> None:
    metrics = ServiceMetrics("demo")
    metrics.collectors.counter("things_total", "Things").inc()
    assert metrics.registry.get_sample_value("demo_things_total") == 1
    assert (
        metrics.registry.get_sample_value("demo_http_requests_total", {"route": "x", "status": "200"}) is None
    )


class _Keys(KeySpace):
    __slots__ = ()
    area = "demo"
    things = Key("things")
    thing = KeyFamily("thing:")

    def item(self, name: str) -> str:
        return self.base + "item:" + name


def test_keyspace_puts_every_key_under_prefix_and_area() -> None:
    assert _Keys("kiro").item("x") == "kiro:demo:item:x"


def test_keyspace_fixed_keys_and_families_read_under_the_base() -> None:
    keys = _Keys("kiro")
    assert keys.things == "kiro:demo:things"
    assert keys.thing("x") == "kiro:demo:thing:x"
    assert keys.thing.prefix == "kiro:demo:thing:"
