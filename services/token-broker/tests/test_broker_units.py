"""Pure units: usage-limit parsing, refresh calls and error classes (MockTransport), secrets
at rest, settings, durations."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import orjson
import pytest

from kiroproto.credentials import AuthKind
from token_broker import Settings
from token_broker.credential_quota import next_month_start_ms, parse_timestamp, parse_usage_limits
from token_broker.crypto import SecretBox
from token_broker.errors import RefreshError, SecretDecryptError
from token_broker.kiro_api import TokenSet, classify_refresh_failure, refresh_tokens
from token_broker.metrics import MAX_TEAM_LABELS, BrokerMetrics
from token_broker.records import parse_expires_at
from token_broker.refresh import backoff_ms

NOW = 1_760_000_000.0
RESET = 1_785_542_400.0


def _usage_doc(reset: object, trial_expiry: object, bonus_expiry: object) -> dict[str, object]:
    return {
        "daysUntilReset": 12,
        "nextDateReset": reset,
        "subscriptionInfo": {"subscriptionTitle": "KIRO FREE", "type": "Q_DEVELOPER_STANDALONE_FREE"},
        "usageBreakdownList": [
            {"resourceType": "AGENTIC_REQUEST", "usageLimit": 1, "currentUsage": 1},
            {
                "resourceType": "CREDIT",
                "currentUsage": 12,
                "currentUsageWithPrecision": 12.37,
                "usageLimit": 50,
                "usageLimitWithPrecision": 50.0,
                "nextDateReset": reset,
                "freeTrialInfo": {
                    "freeTrialStatus": "ACTIVE",
                    "freeTrialExpiry": trial_expiry,
                    "usageLimitWithPrecision": 500.0,
                    "currentUsageWithPrecision": 36.9,
                },
                "bonuses": [
                    {
                        "bonusCode": "WELCOME",
                        "status": "ACTIVE",
                        "usageLimit": 100,
                        "currentUsage": 0,
                        "expiresAt": bonus_expiry,
                    },
                    {"bonusCode": "OLD", "status": "EXPIRED", "usageLimit": 999, "currentUsage": 0},
                ],
            },
        ],
    }


@pytest.mark.parametrize(
    ("reset", "trial_expiry", "bonus_expiry"),
    [
        pytest.param(1.7855424e9, 1.7601234e9, 1.77e9, id="epoch-seconds-float"),
        pytest.param(1785542400, 1760123400000, 1770000000000, id="epoch-milliseconds"),
        pytest.param(
            "2026-08-01T00:00:00Z", "2025-10-10T19:10:00.000Z", "2026-02-02T02:40:00+00:00", id="iso"
        ),
    ],
)
def test_usage_limits_parse_all_timestamp_forms(
    reset: object, trial_expiry: object, bonus_expiry: object
) -> None:
    usage = parse_usage_limits(_usage_doc(reset, trial_expiry, bonus_expiry), now_s=NOW)
    assert usage.subscription_title == "KIRO FREE"
    assert usage.next_reset_at == pytest.approx(RESET, abs=1)
    assert (usage.base_limit, usage.base_used) == (50.0, 12.37)
    assert usage.free_trial_active and (usage.free_trial_limit, usage.free_trial_used) == (500.0, 36.9)
    assert (usage.bonus_limit, usage.bonus_used) == (100.0, 0.0)  # the expired bonus is left out
    assert usage.limit == 650.0 and usage.remaining == pytest.approx(650 - 12.37 - 36.9)


def test_usage_limits_expired_trial_and_empty_breakdowns() -> None:
    doc = _usage_doc(RESET, NOW - 10, NOW - 10)
    usage = parse_usage_limits(doc, now_s=NOW)
    assert not usage.free_trial_active and usage.free_trial_limit == 0 and usage.bonus_limit == 0
    for empty in ({"usageBreakdownList": None, "usageBreakdown": None}, {}):
        blank = parse_usage_limits(empty, now_s=NOW)
        assert blank.limit == 0 and blank.next_reset_at is None


def test_parse_timestamp_edge_cases() -> None:
    assert parse_timestamp("1785542400") == 1785542400.0
    assert parse_timestamp("2026-08-01T00:00:00") == RESET  # naive ISO is UTC
    assert parse_timestamp(None) is None and parse_timestamp("soon") is None and parse_timestamp(True) is None
    assert parse_timestamp(0) is None


def test_next_month_start() -> None:
    dec = datetime(2025, 12, 31, 23, 0, tzinfo=UTC).timestamp()
    assert next_month_start_ms(dec) == int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
    mid = datetime(2026, 2, 10, tzinfo=UTC).timestamp()
    assert next_month_start_ms(mid) == int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)


# ---------------------------------------------------------------- refresh calls


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def _refresh(client: httpx.AsyncClient, auth: AuthKind = "Social") -> TokenSet:
    return await refresh_tokens(
        client,
        auth=auth,
        refresh_token="aorOLD",
        client_id="cid" if auth == "IdC" else None,
        client_secret="csecret" if auth == "IdC" else None,
        region="eu-west-1",
        machine="m" * 64,
        auth_base_template="https://prod.{region}.auth.desktop.kiro.dev",
        oidc_base_template="https://oidc.{region}.amazonaws.com",
    )


async def test_social_refresh_request_and_rotation() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "accessToken": "aoaNEW",
                "refreshToken": "aorNEW",
                "expiresIn": 1800,
                "profileArn": "arn:aws:codewhisperer:us-east-1:123456789012:profile/X",
            },
        )

    async with _client(handler) as client:
        tokens = await _refresh(client)
    assert str(seen[0].url) == "https://prod.eu-west-1.auth.desktop.kiro.dev/refreshToken"
    assert orjson.loads(seen[0].content) == {"refreshToken": "aorOLD"}
    assert seen[0].headers["user-agent"].endswith("m" * 64)
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_in_s) == ("aoaNEW", "aorNEW", 1800.0)
    assert tokens.profile_arn is not None


async def test_idc_refresh_request_is_camel_case_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"accessToken": "aoaNEW", "expiresIn": 3600, "tokenType": "Bearer"})

    async with _client(handler) as client:
        tokens = await _refresh(client, "IdC")
    assert str(seen[0].url) == "https://oidc.eu-west-1.amazonaws.com/token"
    assert orjson.loads(seen[0].content) == {
        "clientId": "cid",
        "clientSecret": "csecret",
        "refreshToken": "aorOLD",
        "grantType": "refresh_token",
    }
    assert tokens.refresh_token is None  # no rotation: keep the old one


@pytest.mark.parametrize(
    ("status", "body", "reason", "permanent"),
    [
        (
            400,
            {"error": "invalid_grant", "error_description": "Invalid refresh token provided"},
            "invalid_grant",
            True,
        ),
        (400, {"__type": "InvalidGrantException", "message": "x"}, "invalid_grant", True),
        (400, {"error": "invalid_client"}, "invalid_client", True),
        (401, {"error": "unauthorized_client"}, "unauthorized_client", True),
        (400, {"error": "expired_token"}, "expired_token", True),
        (429, {"error": "invalid_grant"}, "http_429", False),
        (500, {"message": "boom"}, "http_500", False),
        (403, {"message": "forbidden"}, "http_403", False),
    ],
)
def test_refresh_failure_classes(status: int, body: dict[str, str], reason: str, permanent: bool) -> None:
    err = classify_refresh_failure(status, orjson.dumps(body))
    assert (err.reason, err.permanent) == (reason, permanent)


async def test_network_errors_and_malformed_answers_are_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with _client(refuse) as client:
        with pytest.raises(RefreshError, match="network") as info:
            await _refresh(client)
    assert not info.value.permanent
    async with _client(lambda r: httpx.Response(200, text="<html>")) as client:
        with pytest.raises(RefreshError, match="malformed"):
            await _refresh(client)


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_ms(n) for n in (1, 2, 3)] == [5000, 10000, 20000]
    assert backoff_ms(30) == 300_000


# ---------------------------------------------------------------- secrets, settings


def test_secret_box_round_trip_and_binding() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.seal("aorSECRET", "cred-1", "refresh_token")
    assert sealed.startswith("enc:v1:") and "aorSECRET" not in sealed
    assert box.open(sealed, "cred-1", "refresh_token") == "aorSECRET"
    with pytest.raises(SecretDecryptError):
        box.open(sealed, "cred-2", "refresh_token")  # moved to another credential
    with pytest.raises(SecretDecryptError):
        SecretBox(None).open(sealed, "cred-1", "refresh_token")
    assert SecretBox(None).seal("plain", "c", "f") == "plain"
    assert box.open("legacy-plain", "c", "f") == "legacy-plain"


def test_settings_names_defaults_and_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings(_env_file=None)
    assert (
        s.session_pool_enabled,
        s.session_pool_max_size,
        s.session_pool_cooldown,
        s.session_pool_wait,
    ) == (True, 3, 60.0, 30.0)
    assert (s.broker_port, s.broker_lease_ttl, s.broker_refresh_margin, s.broker_usage_poll_interval) == (
        8081,
        60.0,
        600.0,
        600.0,
    )
    assert (s.kiro_bus_namespace, s.kiro_redis_prefix, s.kiro_secret_key) == ("kiro", "kiro2api", None)
    key = base64.b64encode(os.urandom(32)).decode()
    for name, value in {
        "SESSION_POOL_COOLDOWN": "2m",
        "SESSION_POOL_WAIT": "500ms",
        "SESSION_POOL_ENABLED": "false",
        "BROKER_LEASE_TTL": "90",
        "KIRO_SECRET_KEY": key,
        "PROXY_POOL": "http://p1:1, http://p2:2",
        "LOG_LEVEL": "warn",
        "OAUTH_TOKEN_FILE": "",
        "KIRO_AUTH_TOKEN": '[{"refreshToken": "aor"}]',
    }.items():
        monkeypatch.setenv(name, value)
    s = Settings(_env_file=None)
    assert (s.session_pool_cooldown, s.session_pool_wait, s.session_pool_enabled) == (120.0, 0.5, False)
    assert s.broker_lease_ttl == 90.0 and s.secret_key_bytes is not None and len(s.secret_key_bytes) == 32
    assert s.proxies == ("http://p1:1", "http://p2:2") and s.log_level == "WARNING"
    assert s.oauth_token_file is None and s.kiro_auth_token is not None
    assert "aor" not in repr(s)  # secrets stay hidden


def test_expires_at_parsing() -> None:
    assert parse_expires_at("2026-08-01T00:00:00Z") == int(RESET * 1000)
    assert parse_expires_at("2026-08-01T00:00:00.000+00:00") == int(RESET * 1000)
    assert parse_expires_at("2026-08-01T00:00:00") == 0  # no zone: ignored, refresh instead
    assert parse_expires_at(None) == 0 and parse_expires_at("garbage") == 0


def test_team_label_values_stay_a_bounded_set() -> None:
    metrics = BrokerMetrics()
    names = [f"team-{i}" for i in range(MAX_TEAM_LABELS)]
    assert [metrics.team_label(n) for n in names] == names
    assert metrics.team_label("one-too-many") == "other"
    assert metrics.team_label(names[0]) == names[0]  # a team seen before keeps its label
