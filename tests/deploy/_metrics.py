"""The one table of metric names that alerts and dashboards may use.

Built from the services' own `metrics.py`: each service's collectors are created on a fresh
registry and every series name they can expose is listed (`_total`, `_bucket`, ...). Added to
it: the recording rules of deploy/prometheus/alerts.yml, Prometheus' own `up`, and the names
that are PLANNED (exported by work not merged yet); keep PLANNED in step with deploy/README.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client import CollectorRegistry

from tests.deploy._support import DEPLOY, load_yaml

# Names exported by work not merged yet (none: every name the alerts and the dashboard use is
# exported by a service's metrics.py).
PLANNED: frozenset[str] = frozenset()
BUILTIN = frozenset({"up"})

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "enum": ("",),
    "unknown": ("",),
}


def _series_names(registry: CollectorRegistry) -> set[str]:
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def exported() -> dict[str, set[str]]:
    """Series names per service, from collectors registered on fresh registries."""
    from dashboard.metrics import create_metrics as dashboard_metrics
    from gateway.metrics import Metrics as GatewayMetrics
    from kiro_oauth.metrics import create_metrics as oauth_metrics
    from token_broker.metrics import BrokerMetrics

    return {
        "gateway": _series_names(GatewayMetrics(CollectorRegistry()).registry),
        "token-broker": _series_names(BrokerMetrics(CollectorRegistry()).registry),
        "oauth": _series_names(oauth_metrics().registry),
        "dashboard": _series_names(dashboard_metrics().registry),
    }


def recorded() -> set[str]:
    rules = load_yaml(DEPLOY / "prometheus" / "alerts.yml")
    return {rule["record"] for group in rules["groups"] for rule in group["rules"] if "record" in rule}


def allowed() -> set[str]:
    names: set[str] = set()
    for per_service in exported().values():
        names |= per_service
    return names | recorded() | PLANNED | BUILTIN


_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
    "atan2",
    "start",
    "end",
}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (a small lexer: good for the expressions we write)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names: set[str] = set()
    for m in re.finditer(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def unknown_names(exprs: Iterable[str]) -> dict[str, set[str]]:
    ok = allowed()
    bad: dict[str, set[str]] = {}
    for expr in exprs:
        missing = metric_names(expr) - ok
        if missing:
            bad[expr] = missing
    return bad
