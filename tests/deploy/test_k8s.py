"""deploy/k8s: every manifest validated against the Kubernetes OpenAPI schemas (kubernetes-validate,
strict, offline), the two Prometheus Operator resources against a schema written here, the
production overlay rendered and validated the same way, and the wiring checked for meaning
(selectors, ports, probes, secrets, network policies, settings the services accept)."""

from __future__ import annotations

import base64
import copy
import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kiroproto.upstream import parse_duration
from tests.deploy import _kustomize
from tests.deploy._support import (
    INSTALL_HINT,
    K8S_BASE,
    K8S_PRODUCTION,
    METRICS_PORTS,
    ROOT,
    SERVICE_PORTS,
    load_yaml,
    load_yaml_docs,
    run,
    settings_class,
)

# Oldest Kubernetes release the manifests support, and the newest the validator knows.
K8S_VERSIONS = ["1.31.0", "1.37.0"]
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
APPS = ["gateway", "token-broker", "oauth", "dashboard"]

Resource = dict[str, Any]


def _kv() -> Any:
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail(f"kubernetes-validate is not installed: {INSTALL_HINT}", pytrace=False)
    return kubernetes_validate


@functools.cache
def _rendered(directory: Path) -> list[Resource]:
    return _kustomize.build(directory)


def base_resources() -> list[Resource]:
    return copy.deepcopy(_rendered(K8S_BASE))


def production_resources() -> list[Resource]:
    return copy.deepcopy(_rendered(K8S_PRODUCTION))


def find(resources: list[Resource], kind: str, name: str) -> Resource:
    hits = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(hits) == 1, f"{kind}/{name}: {len(hits)} found"
    return hits[0]


def pod_spec(workload: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def workloads(resources: list[Resource]) -> list[Resource]:
    return [r for r in resources if r["kind"] in {"Deployment", "StatefulSet"}]


# ---- files and generated copies


def test_kustomization_lists_every_manifest() -> None:
    listed = load_yaml(K8S_BASE / "kustomization.yaml")["resources"]
    on_disk = sorted(p.name for p in K8S_BASE.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk


def test_every_base_manifest_is_namespaced_and_labelled() -> None:
    for path in sorted(K8S_BASE.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in load_yaml_docs(path):
            meta = doc["metadata"]
            if doc["kind"] != "Namespace":
                assert meta.get("namespace") == "kiro2api", f"{path.name}: {doc['kind']}/{meta['name']}"
            assert meta["labels"]["app.kubernetes.io/part-of"] == "kiro2api", f"{path.name}: {meta['name']}"


def test_generated_copies_are_in_sync() -> None:
    proc = run([sys.executable, str(ROOT / "deploy" / "sync.py"), "--check"])
    assert proc.returncode == 0, proc.stderr


# ---- schemas


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("flavour", ["base", "production"])
def test_manifests_are_valid_kubernetes(flavour: str, version: str) -> None:
    kv = _kv()
    resources = base_resources() if flavour == "base" else production_resources()
    errors = []
    for r in resources:
        if r["kind"] in CRD_KINDS:
            continue  # no CRD schemas in kubernetes-validate: see test_prometheus_operator_resources
        try:
            kv.validate(r, version, strict=True)
        except kv.ValidationError as exc:
            errors.append(f"{r['kind']}/{r['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not errors, "\n".join(errors)


def test_validator_rejects_unknown_fields() -> None:
    kv = _kv()
    deployment = find(base_resources(), "Deployment", "gateway")
    deployment["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}
    with pytest.raises(kv.ValidationError, match="readynessProbe"):
        kv.validate(deployment, K8S_VERSIONS[-1], strict=True)


_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "operator"],
                "properties": {
                    "key": {"type": "string"},
                    "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
_DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}
_METADATA = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}, "labels": {"type": "object"}},
}
# Subsets of the monitoring.coreos.com/v1 CRD schemas (prometheus-operator), strict: a field the
# CRD does not have (or that we do not expect to use) is an error.
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": _SELECTOR,
                "jobLabel": {"type": "string"},
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                            "honorLabels": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}
_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["expr"],
    "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
    "properties": {
        "record": {"type": "string", "pattern": r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
        "alert": {"type": "string"},
        "expr": {"type": "string", "minLength": 1},
        "for": _DURATION,
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
PROMETHEUS_RULE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string"},
                            "interval": _DURATION,
                            "rules": {"type": "array", "minItems": 1, "items": _RULE},
                        },
                    },
                }
            },
        },
    },
}


def test_prometheus_operator_resources() -> None:
    import jsonschema

    resources = base_resources()
    monitor = find(resources, "ServiceMonitor", "kiro2api")
    jsonschema.validate(monitor, SERVICE_MONITOR_SCHEMA)
    rule = find(resources, "PrometheusRule", "kiro2api")
    jsonschema.validate(rule, PROMETHEUS_RULE_SCHEMA)
    assert rule["spec"] == load_yaml(ROOT / "deploy" / "prometheus" / "alerts.yml")
    # The monitor selects exactly the four HTTP services, on a port they all have.
    selected = [
        r
        for r in resources
        if r["kind"] == "Service" and _selects(monitor["spec"]["selector"], r["metadata"]["labels"])
    ]
    assert sorted(s["metadata"]["name"] for s in selected) == sorted(APPS)
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    for service in selected:
        ports = {p["name"]: p for p in service["spec"]["ports"]}
        assert "metrics" in ports
        # The port scraped is each service's keyless metrics port, never its public one.
        workload = next(
            w
            for w in workloads(resources)
            if _selects(
                {"matchLabels": service["spec"]["selector"]}, w["spec"]["template"]["metadata"]["labels"]
            )
        )
        container_ports = {
            p["name"]: p["containerPort"] for p in pod_spec(workload)["containers"][0]["ports"]
        }
        name = service["metadata"]["name"]
        assert container_ports[ports["metrics"]["targetPort"]] == METRICS_PORTS[name], name
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == ["kiro2api"]


# ---- selectors, ports, probes


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present = expr["key"] in labels
        value = labels.get(expr["key"])
        op = expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and present and value in expr["values"]:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def test_services_select_one_workload_and_real_ports() -> None:
    resources = base_resources()
    for service in (r for r in resources if r["kind"] == "Service"):
        matched = [
            w
            for w in workloads(resources)
            if _selects(
                {"matchLabels": service["spec"]["selector"]}, w["spec"]["template"]["metadata"]["labels"]
            )
        ]
        assert len(matched) == 1, f"Service {service['metadata']['name']} selects {len(matched)} workloads"
        ports = {p["name"] for c in pod_spec(matched[0])["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, (
                f"{service['metadata']['name']}: no container port {port['targetPort']}"
            )
    for w in workloads(resources):
        assert _selects(w["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"]), w["metadata"][
            "name"
        ]


def test_app_workloads_probe_health_and_readiness() -> None:
    resources = base_resources()
    for name in APPS:
        container = pod_spec(find(resources, "Deployment", name))["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["ports"][0]["containerPort"] == SERVICE_PORTS[name]
        assert container["args"] == ["broker" if name == "token-broker" else name]


def test_gateway_drains_streams() -> None:
    resources = base_resources()
    gateway = find(resources, "Deployment", "gateway")
    spec = pod_spec(gateway)
    assert "replicas" not in gateway["spec"], "the HPA owns the gateway's replica count"
    assert spec["terminationGracePeriodSeconds"] >= 600
    pre_stop = spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    drain = parse_duration(env["GATEWAY_SHUTDOWN_GRACE"])
    assert int(pre_stop[1]) + drain + 5 <= spec["terminationGracePeriodSeconds"], "streams would be killed"
    hpa = find(resources, "HorizontalPodAutoscaler", "gateway")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}
    assert hpa["spec"]["minReplicas"] >= 2
    for name in ("gateway", "token-broker"):
        pdb = find(resources, "PodDisruptionBudget", name)
        labels = find(resources, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert _selects(pdb["spec"]["selector"], labels)
    assert find(resources, "Deployment", "token-broker")["spec"]["replicas"] >= 2


def test_pods_are_hardened() -> None:
    for w in workloads(base_resources()):
        spec = pod_spec(w)
        name = w["metadata"]["name"]
        assert spec["enableServiceLinks"] is False, f"{name}: service links clash with *_PORT settings"
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], name
            assert not c["image"].endswith(":latest") and ":" in c["image"], name


def test_state_is_persistent_and_durable() -> None:
    resources = base_resources()
    redis = find(resources, "StatefulSet", "redis")
    assert redis["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    container = pod_spec(redis)["containers"][0]
    assert container["command"][:2] == ["redis-server", "/usr/local/etc/redis/redis.conf"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/data"] == "data" and mounts["/usr/local/etc/redis"] == "config"
    conf = find(resources, "ConfigMap", "redis-config")["data"]["redis.conf"]
    for line in ("appendonly yes", "appendfsync always", "dir /data", "maxmemory-policy noeviction"):
        assert re.search(rf"^{line}$", conf, re.M), line
    nats = pod_spec(find(resources, "StatefulSet", "nats"))["containers"][0]
    assert nats["args"] == ["-c", "/etc/nats/nats.conf"]
    nats_conf = find(resources, "ConfigMap", "nats-config")["data"]["nats.conf"]
    for service in ("gateway", "broker", "dashboard", "oauth"):
        assert f"password: $NATS_{service.upper()}_PASSWORD" in nats_conf


def test_ingress_routes_one_origin() -> None:
    resources = base_resources()
    ingress = find(resources, "Ingress", "kiro2api")
    rules = ingress["spec"]["rules"][0]["http"]["paths"]
    paths = {p["path"]: p for p in rules}
    assert {k: v["backend"]["service"]["name"] for k, v in paths.items()} == {
        "/v1": "gateway",
        "/oauth": "oauth",
        "/": "dashboard",
        "/api": "dashboard",
        "/static": "dashboard",
        "/teams": "dashboard",
    }
    for path in paths.values():
        assert path["pathType"] == ("Exact" if path["path"] == "/" else "Prefix")
        service = find(resources, "Service", path["backend"]["service"]["name"])
        assert path["backend"]["service"]["port"]["name"] == "http"
        assert "http" in {p["name"] for p in service["spec"]["ports"]}
    routed = {
        "/v1/messages": "gateway",
        "/oauth": "oauth",
        "/oauth/api/import": "oauth",
        "/": "dashboard",
        "/api/tokens": "dashboard",
        "/api/events": "dashboard",
        "/static/dashboard/app.js": "dashboard",
        "/teams": "dashboard",
        "/metrics": None,  # never public: Prometheus scrapes the metrics ports
        "/metrics/": None,
        "/healthz": None,
        "/v1x": None,
    }
    for request_path, expected in routed.items():
        assert _ingress_backend(rules, request_path) == expected, request_path
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600


def _ingress_backend(rules: list[dict[str, Any]], path: str) -> str | None:
    """The Service an Ingress sends `path` to (Exact, then the longest Prefix by path element)."""
    best: tuple[int, str] | None = None
    for rule in rules:
        p, name = rule["path"], rule["backend"]["service"]["name"]
        if rule["pathType"] == "Exact":
            if path == p:
                return str(name)
            continue
        prefix = p.rstrip("/")
        if (path == prefix or path.startswith(prefix + "/")) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), str(name))
    return best[1] if best else None


# ---- secrets, config and the services' own settings


TEST_SECRETS = {
    "KIRO_CLIENT_TOKEN": "client-key-" + "Hy6Tg2Bn7Mk4",
    "KIRO_ADMIN_TOKEN": "admin-key-" + "Xc9Vb3Nm5Qa8",
    "KIRO_AUTH_TOKEN": '[{"auth":"Social","refreshToken":"aorTEST"}]',
    "KIRO_SECRET_KEY": base64.b64encode(b"k" * 32).decode(),
    **{f"NATS_{s}_PASSWORD": f"nats-{s.lower()}" for s in ("GATEWAY", "BROKER", "DASHBOARD", "OAUTH")},
    **{f"REDIS_{s}_PASSWORD": f"redis-{s.lower()}" for s in ("BROKER", "DASHBOARD", "OAUTH")},
}


def container_env(
    resources: list[Resource], container: dict[str, Any], secrets: dict[str, str]
) -> dict[str, str]:
    """The environment Kubernetes would give the container (envFrom, env, $(VAR) expansion)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(find(resources, "ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env[m.group(1)], item["value"]
            )
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            if ref["key"] in secrets:
                env[item["name"]] = secrets[ref["key"]]
            else:
                assert ref.get("optional"), f"{item['name']}: required secret key {ref['key']} missing"
    return env


def test_secret_and_config_references_resolve() -> None:
    resources = base_resources()
    secret_keys = set(find(resources, "Secret", "kiro2api-secrets")["stringData"])
    assert secret_keys == set(TEST_SECRETS)
    for w in workloads(resources):
        for c in pod_spec(w)["containers"]:
            defined: set[str] = set()
            for source in c.get("envFrom", []):
                defined |= set(find(resources, "ConfigMap", source["configMapRef"]["name"])["data"])
            for item in c.get("env", []):
                for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", item.get("value", "")):
                    assert ref in defined, f"{w['metadata']['name']}: $({ref}) used before it is defined"
                if "valueFrom" in item:
                    assert item["valueFrom"]["secretKeyRef"]["key"] in secret_keys
                defined.add(item["name"])
    gateway = pod_spec(find(resources, "Deployment", "gateway"))["containers"][0]
    assert "KIRO_AUTH_TOKEN" not in {e["name"] for e in gateway["env"]}, "refresh tokens stay in the broker"


@pytest.mark.parametrize("component", APPS)
def test_services_accept_their_kubernetes_environment(component: str, clean_env: pytest.MonkeyPatch) -> None:
    resources = base_resources()
    container = pod_spec(find(resources, "Deployment", component))["containers"][0]
    env = container_env(resources, container, TEST_SECRETS)
    for key, value in env.items():
        clean_env.setenv(key, value)
    settings = settings_class(component)(_env_file=None)
    port_field = {
        "gateway": "port",
        "token-broker": "broker_port",
        "oauth": "oauth_port",
        "dashboard": "dashboard_port",
    }[component]
    assert getattr(settings, port_field) == SERVICE_PORTS[component]
    user = "broker" if component == "token-broker" else component
    assert settings.nats_url == f"nats://{user}:nats-{user}@nats:4222"  # its own NATS user
    if component != "gateway":
        assert settings.redis_url == f"redis://{user}:redis-{user}@redis:6379/0"  # its own ACL user


# ---- network policies


def _allowed(
    policies: list[Resource], src_ns: str, src_labels: dict[str, str], dst: dict[str, str], port: int
) -> bool:
    """Kubernetes semantics for ingress: a pod selected by any policy admits only what one allows."""
    selecting = [
        p
        for p in policies
        if _selects(p["spec"]["podSelector"], dst) and "Ingress" in p["spec"]["policyTypes"]
    ]
    if not selecting:
        return True
    ns_labels = {"kubernetes.io/metadata.name": src_ns}
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            for peer in rule.get("from", []):
                ns_ok = (
                    _selects(peer["namespaceSelector"], ns_labels)
                    if "namespaceSelector" in peer
                    else src_ns == "kiro2api"
                )
                pod_ok = _selects(peer["podSelector"], src_labels) if "podSelector" in peer else True
                if ns_ok and pod_ok:
                    return True
    return False


def _labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "kiro2api",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "kiro2api",
    }


@pytest.mark.parametrize(
    ("src_ns", "src", "dst", "port", "expected"),
    [
        ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "gateway", 8080, True),
        ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "oauth", 8082, True),
        ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "dashboard", 8083, True),
        ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "token-broker", 8081, False),
        ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "nats", 4222, False),
        ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "redis", 6379, False),
        ("monitoring", {"app.kubernetes.io/name": "prometheus"}, "token-broker", 8081, True),
        ("monitoring", {"app.kubernetes.io/name": "prometheus"}, "gateway", 9180, True),
        ("monitoring", {"app.kubernetes.io/name": "prometheus"}, "oauth", 9182, True),
        ("monitoring", {"app.kubernetes.io/name": "prometheus"}, "dashboard", 9183, True),
        ("monitoring", {"app.kubernetes.io/name": "prometheus"}, "gateway", 8080, False),
        ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "gateway", 9180, False),
        ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "dashboard", 9183, False),
        ("monitoring", {"app.kubernetes.io/name": "prometheus"}, "redis", 6379, False),
        ("default", {"app": "anything"}, "gateway", 8080, False),
        ("default", {"app": "anything"}, "token-broker", 8081, False),
        ("default", {"app": "anything"}, "nats", 4222, False),
        ("default", {"app": "anything"}, "redis", 6379, False),
        ("kiro2api", _labels("gateway"), "nats", 4222, True),
        ("kiro2api", _labels("token-broker"), "nats", 4222, True),
        ("kiro2api", _labels("token-broker"), "redis", 6379, True),
        ("kiro2api", _labels("oauth"), "redis", 6379, True),
        ("kiro2api", _labels("dashboard"), "nats", 4222, True),
        ("kiro2api", {"app": "debug"}, "nats", 4222, False),
        ("kiro2api", {"app": "debug"}, "redis", 6379, False),
        ("kiro2api", {"app": "debug"}, "token-broker", 8081, False),
        ("kiro2api", _labels("gateway"), "token-broker", 8081, False),
        ("other", _labels("gateway"), "redis", 6379, False),
        ("kiro2api", _labels("gateway"), "redis", 6379, False),
    ],
)
def test_network_policies(src_ns: str, src: dict[str, str], dst: str, port: int, expected: bool) -> None:
    resources = base_resources()
    policies = [r for r in resources if r["kind"] == "NetworkPolicy"]
    assert _allowed(policies, src_ns, src, _labels(dst), port) is expected


# ---- the production overlay


def test_production_overlay() -> None:
    resources = production_resources()
    assert not [r for r in resources if r["kind"] == "Secret"], "placeholders must not reach production"
    for name in APPS:
        image = pod_spec(find(resources, "Deployment", name))["containers"][0]["image"]
        assert image == "registry.example.com/platform/kiro2api:0.1.0"
    assert find(resources, "Deployment", "token-broker")["spec"]["replicas"] == 3
    assert find(resources, "HorizontalPodAutoscaler", "gateway")["spec"]["minReplicas"] == 3
    ingress = find(resources, "Ingress", "kiro2api")
    assert ingress["spec"]["tls"][0]["secretName"] == "kiro2api-tls"
    assert ingress["spec"]["rules"][0]["host"] == "kiro2api.example.com"
    assert find(resources, "ConfigMap", "kiro2api-config")["data"]["OAUTH_ENABLED"] == "true"


def test_renderer_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(_kustomize.UnsupportedKustomization, match="commonLabels"):
        _kustomize.build(tmp_path)


@pytest.mark.parametrize("directory", [K8S_BASE, K8S_PRODUCTION], ids=["base", "production"])
def test_renderer_matches_kubectl_kustomize(directory: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip(
            "kubectl not on PATH: the overlay is still rendered and validated by tests/deploy/_kustomize.py"
        )
    out = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=True, timeout=60
    )
    theirs = [d for d in yaml.safe_load_all(out.stdout) if d]

    def key(r: Resource) -> tuple[str, str, str]:
        return r["kind"], r["metadata"].get("namespace", ""), r["metadata"]["name"]

    assert sorted(theirs, key=key) == sorted(_kustomize.build(directory), key=key)
