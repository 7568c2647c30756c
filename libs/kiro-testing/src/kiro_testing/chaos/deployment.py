"""The chaos suite's deployment: 3 gateways behind a round-robin front, 2 brokers, NATS, Redis
(append-only, fsync always), the simulator with accounts that rotate their refresh token on
every refresh. The fuzz suite and the graceful-shutdown tests use smaller forms of it."""

from __future__ import annotations

import base64
from collections.abc import Mapping

from kiro_testing.stack import StackConfig

CLIENT_KEY = "chaos-operator-key-" + "0123456789abcdef"
ADMIN_KEY = "chaos-admin-key-" + "fedcba9876543210"
# KIRO_SECRET_KEY of the chaos brokers (base64 of 32 bytes): secrets sealed at rest as in production.
SECRET_KEY = base64.b64encode(b"chaos-cluster-secret-key-32byte!").decode()


def cluster_config(
    *,
    gateways: int = 3,
    brokers: int = 2,
    accounts: int = 5,
    rotate_refresh: bool = True,
    pool_max_size: int = 3,
    lease_ttl_s: float = 15.0,
    shutdown_grace_s: float = 10.0,
    log_level: str = "INFO",
    gateway_env: Mapping[str, str] | None = None,
) -> StackConfig:
    """The deployment, with the front when there is more than one gateway."""
    return StackConfig(
        brokers=brokers,
        gateways=gateways,
        front=gateways > 1,
        accounts=[
            {"id": f"acct{i}", "auth": "social", "rotate_refresh": rotate_refresh} for i in range(accounts)
        ],
        client_token=CLIENT_KEY,
        secret_key=SECRET_KEY,
        name="chaos",
        env={
            "SESSION_POOL_MAX_SIZE": str(pool_max_size),
            "SESSION_POOL_MAX_RETRIES": "5",
            "SESSION_POOL_COOLDOWN": "3s",
            "SESSION_POOL_WAIT": "10s",
            "LOG_LEVEL": log_level,
        },
        broker_env={
            "BROKER_LEASE_TTL": f"{lease_ttl_s:g}s",
            "BROKER_FAILURE_COOLDOWN": "3s",
            "BROKER_USAGE_POLL_INTERVAL": "0",
            "BROKER_DRAIN_TIMEOUT": "5s",
        },
        gateway_env={
            "KIRO_ADMIN_TOKEN": ADMIN_KEY,
            "GATEWAY_SHUTDOWN_GRACE": f"{shutdown_grace_s:g}s",
            **dict(gateway_env or {}),
        },
    )
