"""The pool as the dashboard sees it (`PoolStatus`): no secrets, fingerprints only."""

from __future__ import annotations

import time

from kiroproto.bus import CredentialStatus, CredentialStatusKind, PoolStatus
from token_broker.catalogue import Catalogues
from token_broker.metrics import BrokerMetrics
from token_broker.records import CredentialState, now_ms
from token_broker.settings import Settings
from token_broker.store import CredentialStore

_SERVING = (CredentialStatusKind.ACTIVE, CredentialStatusKind.REFRESHING)


def effective_status(state: CredentialState, at_ms: int, refreshing: bool) -> CredentialStatusKind:
    """The stored status as of `at_ms`: retired, then disabled win; finished cooldowns read as active."""
    if state.retired:
        return CredentialStatusKind.RETIRED
    if state.disabled:
        return CredentialStatusKind.DISABLED
    status = state.status
    if status in (CredentialStatusKind.COOLING_DOWN, CredentialStatusKind.QUOTA_PARKED):
        if state.status_until_ms <= at_ms:
            status = CredentialStatusKind.ACTIVE
    if status == CredentialStatusKind.ACTIVE and refreshing:
        return CredentialStatusKind.REFRESHING
    return status


def _seconds(ms: int) -> float | None:
    return ms / 1000 if ms > 0 else None


async def pool_status(
    store: CredentialStore,
    settings: Settings,
    metrics: BrokerMetrics | None = None,
    catalogues: Catalogues | None = None,
) -> PoolStatus:
    at = now_ms()
    states = await store.states()
    ids = [s.id for s in states]
    known = await catalogues.read_many(ids) if catalogues is not None else {}
    in_flight = await store.in_flight(ids, at)
    refreshing = await store.refreshing(ids)
    cap = settings.session_pool_max_size if settings.session_pool_enabled else 0
    creds: list[CredentialStatus] = []
    for s in states:
        status = effective_status(s, at, s.id in refreshing)
        parked = status in (CredentialStatusKind.COOLING_DOWN, CredentialStatusKind.QUOTA_PARKED)
        models, fetched_ms = known.get(s.id, ((), None))
        reason = s.retired_reason if status == CredentialStatusKind.RETIRED else s.reason
        creds.append(
            CredentialStatus(
                id=s.id,
                auth=s.auth,
                status=status,
                reason=reason if status != CredentialStatusKind.ACTIVE else None,
                priority=s.priority,
                in_flight=in_flight.get(s.id, 0),
                max_in_flight=cap,
                access_token_fingerprint=s.token_fp,
                refresh_token_fingerprint=s.refresh_fp,
                access_expires_at=_seconds(s.access_expires_ms),
                status_until=_seconds(s.status_until_ms) if parked else None,
                requests=s.requests,
                errors=s.errors,
                last_error=s.last_error,
                last_used_at=_seconds(s.last_used_ms),
                usage=s.usage,
                region=s.region or settings.kiro_region,
                source=s.source,
                models=models,
                catalogue_at=fetched_ms / 1000 if fetched_ms else None,
            )
        )
    pool = PoolStatus(
        total=len(creds),
        active=sum(1 for c in creds if c.status in _SERVING),
        in_flight=sum(c.in_flight for c in creds),
        credentials=tuple(creds),
        generated_at=time.time(),
    )
    if metrics is not None:
        for kind in CredentialStatusKind:
            metrics.credentials.labels(status=kind.value).set(sum(1 for c in creds if c.status == kind))
        metrics.in_flight.set(pool.in_flight)
    return pool
