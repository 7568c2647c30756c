"""The gateway's probes, served by `kiro_service.health`'s one router: `/readyz` is ready when
NATS is connected and a broker answers a ping; `/metrics` on the public port needs the admin key
(`Authorization: Bearer`; refused in the client's error shape), keyless on
`GATEWAY_METRICS_PORT`."""

from __future__ import annotations

from gateway.errors import AuthenticationFailed
from gateway.lease import BrokerClient
from gateway.metrics import Metrics
from gateway.settings import Settings
from kiro_service import Health, Readiness, admin_key_guard, registry_metrics


def gateway_health(settings: Settings, metrics: Metrics, broker: BrokerClient) -> Health:
    async def broker_answers() -> Readiness:
        if not broker.connected:
            return Readiness.failed("NATS not connected")
        if await broker.ping() is None:
            return Readiness.failed("no broker answers on the bus")
        return Readiness.ok()

    return Health(
        checks=[broker_answers],
        metrics=registry_metrics(metrics.registry),
        guard=admin_key_guard(settings.kiro_admin_token, AuthenticationFailed),
    )
