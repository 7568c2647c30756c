"""Team keys at request time: the model allow-list, the admission ticket that rides on the
first lease request, and the rate-limit response headers.

The limits themselves are counted by the broker (one Lua call, atomic across every gateway
replica); this module only carries the key's limits there and the answer back:

- `admission_for` raises `PermissionDenied` (403 permission_error / permission_denied) when the
  model matches none of the key's patterns (case-insensitive globs, tried on the name the client
  sent and on the Kiro model id), and otherwise returns the `TeamTicket` of the request;
- the first `lease.acquire` of the request carries `ticket.admission`; the broker answers with
  the team's counters (`LimitState`), or a `team_rate_limited` / `team_budget` denial that
  `lease.denial_error` turns into a 429 with retry-after;
- `ratelimit_headers` renders the counters as `anthropic-ratelimit-*` (Anthropic routes) or
  `x-ratelimit-*` (OpenAI route) headers, on success and on 429 alike.
"""

from __future__ import annotations

import fnmatch
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.errors import PermissionDenied
from kiroproto.bus import Admission, DenialReason, LeaseDenied, LimitState, TeamKey
from kiroproto.models import ResolvedModel


@dataclass(slots=True)
class TeamTicket:
    """One team-key request's admission: sent once, answered once."""

    key: TeamKey
    admission: Admission
    limits: LimitState | None = None
    admitted: bool = False  # holds a concurrency slot (the usage record frees it)
    rejected: bool = False  # refused by the team's limits or budget

    def granted(self, limits: LimitState | None) -> None:
        self.limits = limits
        self.admitted = limits is not None

    def refused(self, denied: LeaseDenied) -> None:
        self.limits = denied.limits or self.limits
        self.rejected = denied.reason in (DenialReason.TEAM_RATE_LIMITED, DenialReason.TEAM_BUDGET)


def model_allowed(patterns: tuple[str, ...], *names: str) -> bool:
    if not patterns:
        return True
    lowered = [n.lower() for n in names if n]
    return any(fnmatch.fnmatchcase(name, p.lower()) for p in patterns for name in lowered)


def admission_for(key: TeamKey | None, requested: str, model: ResolvedModel) -> TeamTicket | None:
    """None for the operator key; 403 when the model is outside the key's allow-list."""
    if key is None:
        return None
    if not model_allowed(key.allowed_models, requested, model.kiro_id):
        allowed = ", ".join(key.allowed_models)
        raise PermissionDenied(f"this API key may not use model {requested!r} (allowed: {allowed})")
    return TeamTicket(key=key, admission=Admission(key_id=key.id, team=key.team, limits=key.limits))


def count_admission(key: TeamKey | None) -> TeamTicket | None:
    """`count_tokens` of a team key with a requests-per-minute limit: the ticket of its
    admission-only round trip (Leasing.admit); None when there is nothing to count."""
    if key is None or key.limits.requests_per_minute is None:
        return None
    return TeamTicket(key=key, admission=Admission(key_id=key.id, team=key.team, limits=key.limits))


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(seconds: float) -> str:
    """OpenAI's reset format: `1s`, `6m0s`."""
    total = max(0, math.ceil(seconds))
    minutes, secs = divmod(total, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def ratelimit_headers(
    limits: LimitState, openai: bool, now: float | None = None
) -> list[tuple[bytes, bytes]]:
    now = time.time() if now is None else now
    out: list[tuple[str, str]] = []
    kinds = (
        ("requests", limits.requests_limit, limits.requests_remaining, limits.requests_reset_at),
        ("tokens", limits.tokens_limit, limits.tokens_remaining, limits.tokens_reset_at),
    )
    for kind, limit, remaining, reset in kinds:
        if limit is None or remaining is None:
            continue
        if openai:
            out += [
                (f"x-ratelimit-limit-{kind}", str(limit)),
                (f"x-ratelimit-remaining-{kind}", str(remaining)),
            ]
            if reset is not None:
                out.append((f"x-ratelimit-reset-{kind}", _duration(reset - now)))
        else:
            out += [
                (f"anthropic-ratelimit-{kind}-limit", str(limit)),
                (f"anthropic-ratelimit-{kind}-remaining", str(remaining)),
            ]
            if reset is not None:
                out.append((f"anthropic-ratelimit-{kind}-reset", _rfc3339(reset)))
    if limits.budget_tokens is not None and limits.budget_remaining is not None:
        out += [
            ("x-kiro-budget-limit-tokens", str(limits.budget_tokens)),
            ("x-kiro-budget-remaining-tokens", str(limits.budget_remaining)),
        ]
        if limits.budget_resets_at is not None:
            out.append(("x-kiro-budget-reset", _rfc3339(limits.budget_resets_at)))
    if limits.budget_credits is not None and limits.budget_credits_remaining is not None:
        out.extend(
            (
                ("x-kiro-budget-limit-credits", f"{limits.budget_credits:g}"),
                ("x-kiro-budget-remaining-credits", f"{limits.budget_credits_remaining:g}"),
            )
        )
        if limits.budget_resets_at is not None and limits.budget_tokens is None:
            out.append(("x-kiro-budget-reset", _rfc3339(limits.budget_resets_at)))
    return [(k.encode(), v.encode()) for k, v in out]
