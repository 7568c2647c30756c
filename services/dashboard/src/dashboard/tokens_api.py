"""`/api/tokens`: the seed's JSON status API, pool summary plus per-credential state (pure).

Same top-level names as the seed (`timestamp`, `total_tokens`, `active_tokens`, `pool_stats`,
`tokens`), each token with its state. Secrets never appear: the broker sends fingerprints
(`token_preview` is `sha256:<10 hex>`), and the caller scrubs the result once more.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from dashboard.traffic.snapshot import CredentialTraffic
from kiroproto.bus import CredentialStatus, PoolStatus


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _token(cred: CredentialStatus, hour: CredentialTraffic | None, now: float) -> dict[str, Any]:
    usage = cred.usage
    return {
        "id": cred.id,
        "auth_type": cred.auth,
        "source": cred.source,
        "status": cred.status.value,
        "reason": cred.reason,
        "disabled": cred.status.value == "disabled",
        "priority": cred.priority,
        "region": cred.region,
        "in_flight": cred.in_flight,
        "max_in_flight": cred.max_in_flight,
        "token_preview": cred.access_token_fingerprint,
        "refresh_token_preview": cred.refresh_token_fingerprint,
        "expires_at": _iso(cred.access_expires_at),
        "expires_in_s": round(cred.access_expires_at - now) if cred.access_expires_at is not None else None,
        "status_until": _iso(cred.status_until),
        "last_used": _iso(cred.last_used_at),
        "requests": cred.requests,
        "errors": cred.errors,
        "requests_last_hour": hour.requests if hour else 0,
        "errors_last_hour": hour.errors if hour else 0,
        "last_error": cred.last_error,
        # the account's live catalogue (ListAvailableModels); empty until known
        "models": [{"id": m.id, "context_window": m.context_window} for m in cred.models],
        "models_checked": _iso(cred.catalogue_at),
        "remaining_usage": usage.remaining if usage else None,
        "usage": (
            {
                **usage.model_dump(mode="json"),
                "limit": usage.limit,
                "used": usage.used,
                "remaining": usage.remaining,
                "next_reset": _iso(usage.next_reset_at),
            }
            if usage
            else None
        ),
    }


def tokens_payload(pool: PoolStatus, last_hour: dict[str, CredentialTraffic], now: float) -> dict[str, Any]:
    by_status = Counter(cred.status.value for cred in pool.credentials)
    return {
        "timestamp": _iso(now),
        "total_tokens": pool.total,
        "active_tokens": pool.active,
        "pool_stats": {
            "total": pool.total,
            "active": pool.active,
            "in_flight": pool.in_flight,
            "by_status": dict(sorted(by_status.items())),
            "requests_last_hour": sum(t.requests for t in last_hour.values()),
            "errors_last_hour": sum(t.errors for t in last_hour.values()),
        },
        "tokens": [_token(cred, last_hour.get(cred.id), now) for cred in pool.credentials],
    }
