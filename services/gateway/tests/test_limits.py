"""Team keys in the gateway without a bus: authentication, the allow-list, the admission ticket,
the rate-limit headers, and the tracing hooks being no-ops when tracing is off."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.datastructures import Headers

from gateway import telemetry
from gateway.errors import AuthenticationFailed, PermissionDenied, RateLimited
from gateway.key_cache import authenticate, key_hash
from gateway.leasing import denial_error
from gateway.limits import TeamTicket, admission_for, model_allowed, ratelimit_headers
from kiro_service import tracer_provider_from_env
from kiroproto.bus import DenialReason, KeyLimits, LeaseDenied, LimitState, TeamKey
from kiroproto.models import ModelMap, ModelMapConfig

OPERATOR = b"operator-key"
SECRET = "sk-kiro-" + "A" * 43


def team_key(**fields: Any) -> TeamKey:
    values: dict[str, Any] = {"id": "key_1", "team": "red", "hint": "sk-kiro-…AAAA", "created_at": 1.0}
    values.update(fields)
    return TeamKey(**values)


class Cache:
    def __init__(self, key: TeamKey | None) -> None:
        self.key = key
        self.asked: list[str] = []

    async def get(self, digest: str) -> TeamKey | None:
        self.asked.append(digest)
        return self.key


async def test_authenticate() -> None:
    cache = Cache(team_key())
    assert await authenticate(Headers({"x-api-key": "operator-key"}), OPERATOR, cache) is None  # type: ignore[arg-type]
    found = await authenticate(Headers({"authorization": f"Bearer {SECRET}"}), OPERATOR, cache)  # type: ignore[arg-type]
    assert found == team_key() and cache.asked == [key_hash(SECRET)]
    with pytest.raises(AuthenticationFailed, match="invalid API key"):
        await authenticate(Headers({"x-api-key": "not-a-team-key"}), OPERATOR, cache)  # type: ignore[arg-type]
    assert len(cache.asked) == 1  # no bus lookup for keys without the team prefix
    with pytest.raises(AuthenticationFailed, match="missing"):
        await authenticate(Headers({}), OPERATOR, cache)  # type: ignore[arg-type]
    with pytest.raises(AuthenticationFailed, match="invalid API key"):
        await authenticate(Headers({"x-api-key": SECRET}), OPERATOR, Cache(None))  # type: ignore[arg-type]
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await authenticate(Headers({"x-api-key": SECRET}), OPERATOR, Cache(team_key(revoked_at=2.0)))  # type: ignore[arg-type]
    expired = Cache(team_key(expires_at=time.time() - 1))
    with pytest.raises(AuthenticationFailed, match="expired"):
        await authenticate(Headers({"x-api-key": SECRET}), OPERATOR, expired)  # type: ignore[arg-type]


def test_allow_list_and_ticket() -> None:
    resolved = ModelMap(ModelMapConfig()).resolve("claude-haiku-4-5")
    assert model_allowed((), "anything")
    assert model_allowed(("CLAUDE-HAIKU*",), "claude-haiku-4-5")
    assert model_allowed(("claude-haiku-4.5",), "claude-haiku-4-5", resolved.kiro_id)  # the Kiro id matches
    assert not model_allowed(("claude-opus*",), "claude-haiku-4-5", resolved.kiro_id)
    assert admission_for(None, "claude-haiku-4-5", resolved) is None  # the operator key
    key = team_key(allowed_models=("claude-opus*",), limits=KeyLimits(requests_per_minute=5))
    with pytest.raises(PermissionDenied, match="may not use model 'claude-haiku-4-5'"):
        admission_for(key, "claude-haiku-4-5", resolved)
    ticket = admission_for(team_key(limits=KeyLimits(requests_per_minute=5)), "claude-haiku-4-5", resolved)
    assert (
        ticket is not None
        and ticket.admission.team == "red"
        and ticket.admission.limits.requests_per_minute == 5
    )


def test_denials_and_headers() -> None:
    limits = LimitState(
        requests_limit=10,
        requests_remaining=0,
        requests_reset_at=1_000_030.0,
        tokens_limit=500,
        tokens_remaining=120,
        tokens_reset_at=1_000_090.5,
        budget_tokens=1000,
        budget_remaining=0,
        budget_resets_at=1_001_000.0,
    )
    denied = LeaseDenied(
        reason=DenialReason.TEAM_BUDGET, message="budget spent", retry_after_s=99.0, limits=limits
    )
    err = denial_error(denied)
    assert isinstance(err, RateLimited) and err.message == "budget spent" and err.retry_after == 99.0
    admitted = admission_for(team_key(), "x", ModelMap(ModelMapConfig()).resolve("claude-sonnet-4-5"))
    assert admitted is not None
    ticket = TeamTicket(key=team_key(), admission=admitted.admission)
    ticket.refused(denied)
    assert ticket.rejected and ticket.limits == limits and not ticket.admitted
    anthropic = dict(ratelimit_headers(limits, openai=False, now=1_000_000.0))
    assert anthropic[b"anthropic-ratelimit-requests-limit"] == b"10"
    assert anthropic[b"anthropic-ratelimit-requests-remaining"] == b"0"
    assert anthropic[b"anthropic-ratelimit-requests-reset"] == b"1970-01-12T13:47:10Z"
    assert anthropic[b"anthropic-ratelimit-tokens-remaining"] == b"120"
    assert anthropic[b"x-kiro-budget-remaining-tokens"] == b"0"
    openai = dict(ratelimit_headers(limits, openai=True, now=1_000_000.0))
    assert openai[b"x-ratelimit-limit-requests"] == b"10"
    assert openai[b"x-ratelimit-reset-requests"] == b"30s"
    assert openai[b"x-ratelimit-reset-tokens"] == b"1m31s"
    assert ratelimit_headers(LimitState(), openai=False) == []


def test_tracing_hooks_are_no_ops_when_off() -> None:
    assert telemetry.CURRENT_TRACER.get() is None
    assert telemetry.attempt_span(1, "cred", "m") is None
    telemetry.end_attempt(None, 200, None)
    telemetry.end_span(None)
    assert tracer_provider_from_env("gateway", {}) is None
    assert tracer_provider_from_env("gateway", {"OTEL_TRACES_EXPORTER": "none"}) is None
    assert (
        tracer_provider_from_env("gateway", {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"})
        is None
    )
    provider = tracer_provider_from_env("gateway", {"OTEL_TRACES_EXPORTER": "console"})
    assert provider is not None
    provider.shutdown()
    assert telemetry.credential_hash("user@example.com") != "user@example.com"
