"""Alert rules and the Prometheus config: promtool checks, rule unit tests, metric names."""

from __future__ import annotations

import re
from typing import Any

from tests.deploy import _metrics
from tests.deploy._support import DEPLOY, load_yaml, run, tool

PROM = DEPLOY / "prometheus"


def test_promtool_check_rules() -> None:
    proc = run([tool("promtool"), "check", "rules", str(PROM / "alerts.yml")])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_rule_unit_tests() -> None:
    proc = run([tool("promtool"), "test", "rules", str(PROM / "tests" / "alerts_test.yml")])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_check_config() -> None:
    proc = run([tool("promtool"), "check", "config", str(PROM / "prometheus.yml")])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 rule files found" in proc.stdout + proc.stderr


def _rules() -> list[dict[str, Any]]:
    doc = load_yaml(PROM / "alerts.yml")
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_rules_use_only_exported_or_planned_metrics() -> None:
    bad = _metrics.unknown_names(rule["expr"] for rule in _rules())
    assert not bad, f"metrics not exported by any service (nor recorded, nor planned): {bad}"


def test_metric_catalogue_is_real() -> None:
    exported = _metrics.exported()
    assert "gateway_requests_total" in exported["gateway"]
    assert "gateway_time_to_first_token_seconds_bucket" in exported["gateway"]
    assert "kiro_broker_credentials" in exported["token-broker"]
    assert "kiro_broker_refresh_failures_total" in exported["token-broker"]
    assert _metrics.metric_names(
        'sum by (le) (rate(a_bucket{x="y"}[5m])) / on(job) group_left(z) b_total > bool 0'
    ) == {"a_bucket", "b_total"}


def test_the_alerts_the_readme_promises_exist() -> None:
    alerts = {rule["alert"]: rule for rule in _rules() if "alert" in rule}
    for name in (
        "KiroErrorBudgetBurnFast",
        "KiroErrorBudgetBurnSlow",
        "KiroTTFTBudgetBurnFast",
        "KiroTTFTBudgetBurnSlow",
        "KiroNoHealthyCredential",
        "KiroRefreshFailures",
        "KiroTeamBudgetNearlySpent",
        "KiroServiceDown",
        "KiroBrokerAbsent",
    ):
        assert name in alerts, name
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"page", "ticket", "warning", "info"}, name
        assert rule["annotations"].get("summary"), f"{name}: no summary"


def test_histogram_thresholds_are_real_bucket_bounds() -> None:
    """`le="5.0"` only works if the gateway's histogram has a 5 s bucket, written that way."""
    from prometheus_client import CollectorRegistry

    from gateway.metrics import Metrics

    registry = CollectorRegistry()
    Metrics(registry).ttft.labels("messages").observe(0.1)
    les = {
        s.labels["le"]
        for fam in registry.collect()
        if fam.name == "gateway_time_to_first_token_seconds"
        for s in fam.samples
        if s.name.endswith("_bucket")
    }
    text = (PROM / "alerts.yml").read_text()
    used = set(re.findall(r'le="([^"]+)"', text))
    assert used, "the TTFT rules select a bucket"
    assert used <= les, f"buckets used by the rules {used} not among {sorted(les)}"
    assert "5.0" in used


def test_every_alert_is_documented() -> None:
    readme = (DEPLOY / "README.md").read_text()
    assert "## Operations" in readme and "### What each failure looks like" in readme
    for rule in _rules():
        if "alert" in rule:
            base = rule["alert"].removesuffix("Fast").removesuffix("Slow").removesuffix("Spent")
            assert base in readme, f"{rule['alert']} is not in deploy/README.md's alert table"
