"""The Grafana dashboard: loads, is well formed, and every query is valid PromQL naming only
metrics from the one table (`_metrics.allowed()`: the services' metrics.py, recording rules,
planned team metrics)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy import _metrics
from tests.deploy._support import DEPLOY, run, tool

DASHBOARD = DEPLOY / "grafana" / "kiro2api.json"
SECTIONS = ["Traffic", "Latency", "Teams", "Credential pool", "Refreshes", "Services"]


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dash["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def _exprs(dash: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in _panels(dash) for t in p.get("targets", []) if t.get("expr")]


def test_dashboard_is_well_formed() -> None:
    dash = _dashboard()
    assert dash["uid"] == "kiro2api" and dash["title"] == "Kiro2API"
    panels = _panels(dash)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert [p["title"] for p in panels if p["type"] == "row"] == SECTIONS
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    for p in panels:
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], f"{p['title']}: no query"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        grid = p["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, p["title"]


def test_dashboard_covers_what_operators_need() -> None:
    names: set[str] = set()
    for expr in _exprs(_dashboard()):
        names |= _metrics.metric_names(expr)
    for needed in (
        "gateway_requests_total",  # traffic
        "gateway_request_duration_seconds_bucket",  # latency
        "gateway_time_to_first_token_seconds_bucket",  # TTFT
        "gateway_tokens_total",  # tokens by team
        "kiro_broker_team_spent_tokens",  # budget by team
        "kiro_broker_credentials",  # pool health
        "kiro_broker_refreshes_total",  # refreshes
        "kiro_broker_refresh_failures_total",
    ):
        assert needed in names, f"the dashboard shows nothing of {needed}"


def test_dashboard_queries_name_only_known_metrics() -> None:
    bad = _metrics.unknown_names(_exprs(_dashboard()))
    assert not bad, f"metrics not exported by any service (nor recorded, nor planned): {bad}"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule (Grafana's interval variables made concrete)."""
    rules = []
    for i, expr in enumerate(_exprs(_dashboard())):
        concrete = re.sub(r"\$__(rate_interval|interval|range)", "5m", expr)
        assert "$" not in concrete, f"unknown variable in {expr}"
        rules.append({"record": f"dashboard:query_{i}", "expr": concrete})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = run([tool("promtool"), "check", "rules", str(path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_provisioning_files() -> None:
    with (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").open() as f:
        ds = yaml.safe_load(f)["datasources"]
    assert [d["type"] for d in ds] == ["prometheus"] and ds[0]["isDefault"] is True
    with (DEPLOY / "grafana" / "provisioning" / "dashboards" / "kiro2api.yml").open() as f:
        providers = yaml.safe_load(f)["providers"]
    assert providers[0]["type"] == "file" and providers[0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_panels_do_not_overlap() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in _dashboard()["panels"]:
        g = panel["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]
