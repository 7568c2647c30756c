"""Helpers shared by the offline deployment checks (tests/deploy).

Every tool these tests run is installed by `scripts/install_deploy_tools.sh`; a missing tool
fails the test that needs it with that instruction (nothing is skipped silently). No Docker
engine, cluster or network is used: servers started here (redis-server) listen on loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_BASE = DEPLOY / "k8s" / "base"
K8S_PRODUCTION = DEPLOY / "k8s" / "overlays" / "production"
INSTALL_HINT = "run `bash scripts/install_deploy_tools.sh` (after `make venv`)"

# The HTTP services and their ports (each service's settings.py).
SERVICE_PORTS = {"gateway": 8080, "token-broker": 8081, "oauth": 8082, "dashboard": 8083}
# Where Prometheus scrapes each service: the keyless metrics port (`<SERVICE>_METRICS_PORT`); the
# broker's HTTP port is internal only and serves /metrics itself. Public ports need the admin key.
METRICS_PORTS = {"gateway": 9180, "token-broker": 8081, "oauth": 9182, "dashboard": 9183}


def tool(name: str) -> str:
    """Path of a validation tool: the venv's bin/ first (pip-installed tools), then PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: {INSTALL_HINT}", pytrace=False)
    return found


def run(
    cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, check=False)


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def settings_class(component: str) -> Any:
    """The Settings class of a service (component names as in Kubernetes)."""
    if component == "gateway":
        from gateway.settings import Settings as GatewaySettings

        return GatewaySettings
    if component == "token-broker":
        from token_broker.settings import Settings as BrokerSettings

        return BrokerSettings
    if component == "oauth":
        from kiro_oauth.settings import Settings as OAuthSettings

        return OAuthSettings
    if component == "dashboard":
        from dashboard.settings import Settings as DashboardSettings

        return DashboardSettings
    raise ValueError(component)
