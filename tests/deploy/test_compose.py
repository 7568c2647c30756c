"""deploy/compose.yml: validated by docker compose itself (no engine), then checked for meaning.

`docker-compose config` (Compose v2, from scripts/install_deploy_tools.sh) validates the file
against the compose-spec JSON schema that Compose embeds, resolves anchors and `${VAR}`
interpolation, and refuses unknown keys; its JSON output is what the semantic checks read.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from kiroproto.upstream import parse_duration
from tests.deploy._support import (
    DEPLOY,
    METRICS_PORTS,
    ROOT,
    SERVICE_PORTS,
    load_yaml,
    run,
    settings_class,
    tool,
)

COMPOSE = DEPLOY / "compose.yml"
NATS_USERS = ("gateway", "broker", "dashboard", "oauth")
REDIS_USERS = ("broker", "dashboard", "oauth")  # the gateway never talks to Redis
REQUIRED = [
    "KIRO_CLIENT_TOKEN",
    *(f"NATS_{u.upper()}_PASSWORD" for u in NATS_USERS),
    *(f"REDIS_{u.upper()}_PASSWORD" for u in REDIS_USERS),
    "KIRO_SECRET_KEY",
    "GRAFANA_ADMIN_PASSWORD",
]
APP_SERVICES = {"gateway": "gateway", "broker": "broker", "oauth": "oauth", "dashboard": "dashboard"}
SECRET_ENV = re.compile(r"(TOKEN|PASSWORD|SECRET|KEY)$")


def compose(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([tool("docker-compose"), "-f", str(COMPOSE), *args], env=env)


@pytest.fixture
def secrets_env(tool_env: dict[str, str]) -> dict[str, str]:
    return {**tool_env, **{name: f"test-{name.lower()}" for name in REQUIRED}}


@pytest.fixture
def resolved(secrets_env: dict[str, str]) -> dict[str, Any]:
    proc = compose(["--profile", "demo", "config", "--format", "json"], secrets_env)
    assert proc.returncode == 0, proc.stderr
    config: dict[str, Any] = json.loads(proc.stdout)
    return config


def test_schema_valid_with_and_without_the_demo_profile(secrets_env: dict[str, str]) -> None:
    for args in (["config", "--quiet"], ["--profile", "demo", "config", "--quiet"]):
        proc = compose(args, secrets_env)
        assert proc.returncode == 0, proc.stderr


def test_demo_env_file_is_complete(tool_env: dict[str, str]) -> None:
    proc = compose(
        ["--env-file", str(DEPLOY / "demo.env"), "--profile", "demo", "config", "--format", "json"], tool_env
    )
    assert proc.returncode == 0, proc.stderr
    services = json.loads(proc.stdout)["services"]
    broker_env = services["broker"]["environment"]
    assert broker_env["KIRO_API_BASE_URL"] == "http://kiro-sim:8999"
    assert json.loads(broker_env["KIRO_AUTH_TOKEN"])[0]["auth"] == "Social"


@pytest.mark.parametrize("missing", REQUIRED)
def test_every_required_secret_fails_fast_with_a_message(secrets_env: dict[str, str], missing: str) -> None:
    env = {k: v for k, v in secrets_env.items() if k != missing}
    proc = compose(["config", "--quiet"], env)
    assert proc.returncode != 0
    assert f"required variable {missing} is missing a value: set {missing}" in proc.stderr


def test_secrets_are_never_defaulted_in_the_file() -> None:
    raw = COMPOSE.read_text()
    for match in re.finditer(r"\$\{([A-Z0-9_]+)(:?[-?+]?)([^}]*)\}", raw):
        name, op, _ = match.groups()
        if SECRET_ENV.search(name):
            assert op == ":?", f"${{{name}}} must be required with :? (found {match.group(0)!r})"
    for name in REQUIRED:
        assert f"${{{name}:?" in raw


def test_depends_on_targets_exist_and_are_healthchecked(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    for name, svc in services.items():
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert cond["condition"] == "service_healthy", f"{name} -> {dep}: wait for health, not start"
            test = services[dep].get("healthcheck", {}).get("test")
            assert test and not services[dep]["healthcheck"].get("disable"), f"{dep} has no healthcheck"


def test_every_long_running_service_has_a_healthcheck(resolved: dict[str, Any]) -> None:
    for name, svc in resolved["services"].items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert svc.get("restart") == "unless-stopped", f"{name}: restart policy"


def test_topology(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) >= {
        "nats",
        "redis",
        "broker",
        "gateway",
        "oauth",
        "dashboard",
        "edge",
        "prometheus",
        "grafana",
        "kiro-sim",
    }
    assert services["broker"]["deploy"]["replicas"] >= 2
    assert services["gateway"]["deploy"]["replicas"] >= 2
    assert services["kiro-sim"]["profiles"] == ["demo"]
    for name, command in APP_SERVICES.items():
        svc = services[name]
        assert svc["command"] == [command]
        assert svc["build"]["target"] == "runtime"
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"]
    # Streams get longer than the default 10 s to finish when a gateway stops.
    grace = _seconds(services["gateway"]["stop_grace_period"])
    assert grace >= 600
    drain = parse_duration(services["gateway"]["environment"]["GATEWAY_SHUTDOWN_GRACE"])
    assert drain + 5 <= grace, "docker would SIGKILL the gateway before its streams finish"


def _seconds(value: str) -> int:
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", value)
    assert m, value
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def test_only_the_edge_is_public_and_state_is_internal(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    networks = resolved["networks"]
    internal = {name for name, net in networks.items() if net.get("internal")}
    for name in ("nats", "redis"):
        assert set(services[name]["networks"]) <= internal, f"{name} must only be on internal networks"
    for name, svc in services.items():
        for port in svc.get("ports", []):
            if name == "edge":
                assert port["target"] == 8080
            else:
                assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond localhost"
    edge_nets = set(services["edge"]["networks"])
    assert not edge_nets & set(services["broker"]["networks"]), "the edge router must not reach the broker"
    assert not edge_nets & set(services["redis"]["networks"])


def test_bus_and_store_need_credentials(resolved: dict[str, Any]) -> None:
    """Each service its own NATS user and Redis ACL user; the NATS monitoring port stays inside."""
    services = resolved["services"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["NATS_URL"] == f"nats://{name}:test-nats_{name}_password@nats:4222"
        if name in REDIS_USERS:
            assert env["REDIS_URL"] == f"redis://{name}:test-redis_{name}_password@redis:6379/0"
        else:
            assert "REDIS_URL" not in env
    command = services["redis"]["command"]
    for user in REDIS_USERS:
        at = command.index(user)
        assert command[at - 1] == "--user" and command[at + 1] == "on"
        assert command[at + 2] == f">test-redis_{user}_password"
    assert "user default off" in (DEPLOY / "redis" / "redis.conf").read_text()
    for user in NATS_USERS:
        assert (
            services["nats"]["environment"][f"NATS_{user.upper()}_PASSWORD"] == f"test-nats_{user}_password"
        )
    assert not services["nats"].get("ports"), "NATS publishes no port (monitoring included)"
    assert 'http: "127.0.0.1:8222"' in (DEPLOY / "nats" / "nats.conf").read_text()


def test_services_get_the_settings_they_read(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    port_vars = {
        "gateway": "PORT",
        "broker": "BROKER_PORT",
        "oauth": "OAUTH_PORT",
        "dashboard": "DASHBOARD_PORT",
    }
    ports = {
        "gateway": SERVICE_PORTS["gateway"],
        "broker": SERVICE_PORTS["token-broker"],
        "oauth": SERVICE_PORTS["oauth"],
        "dashboard": SERVICE_PORTS["dashboard"],
    }
    metrics_vars = {"gateway": "GATEWAY", "oauth": "OAUTH", "dashboard": "DASHBOARD"}
    for name, prefix in metrics_vars.items():  # keyless /metrics on a port that is never published
        env = services[name]["environment"]
        assert env[f"{prefix}_METRICS_PORT"] == str(METRICS_PORTS[name])
        assert env[f"{prefix}_METRICS_HOST"] == "0.0.0.0"
    for name, var in port_vars.items():
        env = services[name]["environment"]
        assert env[var] == str(ports[name])
        assert env["KIRO_HEALTH_URL"] == f"http://127.0.0.1:{ports[name]}/readyz"
    assert services["gateway"]["environment"]["KIRO_CLIENT_TOKEN"] == "test-kiro_client_token"
    assert "KIRO_AUTH_TOKEN" in services["broker"]["environment"]
    assert "KIRO_AUTH_TOKEN" not in services["gateway"]["environment"], "refresh tokens stay in the broker"
    assert "KIRO_CLIENT_TOKEN" not in services["broker"]["environment"], "the broker needs no API key"
    for name in ("broker", "oauth", "dashboard"):
        assert services[name]["environment"]["KIRO_SECRET_KEY"] == "test-kiro_secret_key"


def test_redis_is_durable(resolved: dict[str, Any]) -> None:
    redis = resolved["services"]["redis"]
    assert redis["command"][:2] == ["redis-server", "/usr/local/etc/redis/redis.conf"]
    mounts = {v["target"]: v for v in redis["volumes"]}
    assert mounts["/data"]["type"] == "volume"
    assert mounts["/usr/local/etc/redis/redis.conf"]["source"] == str(DEPLOY / "redis" / "redis.conf")
    conf = _redis_conf()
    assert conf["appendonly"] == "yes" and conf["appendfsync"] == "always"
    assert conf["maxmemory-policy"] == "noeviction"
    assert conf["dir"] == "/data"


def _redis_conf() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (DEPLOY / "redis" / "redis.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            values[key] = value
    return values


def test_mounted_files_exist(resolved: dict[str, Any]) -> None:
    for name, svc in resolved["services"].items():
        for vol in svc.get("volumes", []):
            if vol["type"] == "bind":
                assert (ROOT / vol["source"]).exists(), f"{name}: {vol['source']} does not exist"
                assert vol.get("read_only") is True, f"{name}: bind mounts are read-only"


def test_monitoring_is_wired(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    prom_mounts = {v["target"]: v["source"] for v in services["prometheus"]["volumes"] if v["type"] == "bind"}
    assert prom_mounts["/etc/prometheus/prometheus.yml"] == str(DEPLOY / "prometheus" / "prometheus.yml")
    assert prom_mounts["/etc/prometheus/alerts.yml"] == str(DEPLOY / "prometheus" / "alerts.yml")
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    compose_names = {
        "gateway": "gateway",
        "token-broker": "broker",
        "oauth": "oauth",
        "dashboard": "dashboard",
    }
    for job, service in compose_names.items():
        sd = jobs[job]["dns_sd_configs"][0]
        assert sd["names"] == [service] and sd["port"] == METRICS_PORTS[job], job
        assert service in services
    graf = {v["target"]: v["source"] for v in services["grafana"]["volumes"] if v["type"] == "bind"}
    assert graf["/etc/grafana/provisioning"] == str(DEPLOY / "grafana" / "provisioning")
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "kiro2api.yml")
    dashboards_dir = provider["providers"][0]["options"]["path"]
    assert graf[f"{dashboards_dir}/kiro2api.json"] == str(DEPLOY / "grafana" / "kiro2api.json")
    datasource = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert set(services["grafana"]["networks"]) & set(services["prometheus"]["networks"])


def test_images_are_pinned(resolved: dict[str, Any]) -> None:
    for name, svc in resolved["services"].items():
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: image {image} is not pinned to a version"


@pytest.mark.parametrize(
    ("service", "component"), [(s, "token-broker" if s == "broker" else s) for s in APP_SERVICES]
)
def test_services_accept_their_compose_environment(
    resolved: dict[str, Any], clean_env: pytest.MonkeyPatch, service: str, component: str
) -> None:
    env = resolved["services"][service]["environment"]
    for key, value in env.items():
        if value is not None:
            clean_env.setenv(key, value)
    clean_env.setenv("KIRO_SECRET_KEY", "a2lybzJhcGktZGVtby1rZXktbm90LWEtc2VjcmV0ISE=")  # a valid key
    settings = settings_class(component)(_env_file=None)
    assert settings.nats_url == f"nats://{service}:test-nats_{service}_password@nats:4222"
