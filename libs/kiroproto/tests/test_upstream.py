"""Upstream facts shared by the services: URLs, headers, machine id, proxies, durations."""

from __future__ import annotations

import hashlib

import pytest

from kiroproto import upstream as up


def test_base_url_fills_region() -> None:
    assert up.base_url(up.DEFAULT_API_BASE_URL, None) == "https://q.us-east-1.amazonaws.com"
    assert up.base_url("http://127.0.0.1:9/{region}/", "eu-central-1") == "http://127.0.0.1:9/eu-central-1"


def test_region_from_profile_arn() -> None:
    assert up.region_from_profile_arn("arn:aws:codewhisperer:eu-central-1:123:profile/X") == "eu-central-1"
    assert up.region_from_profile_arn(None) is None
    assert up.region_from_profile_arn("garbage") is None


def test_machine_id_rules() -> None:
    hex64 = "ab" * 32
    assert up.machine_id(hex64.upper(), "rt") == hex64
    uuid_form = "12345678-1234-1234-1234-123456789abc"
    assert up.machine_id(uuid_form, "rt") == uuid_form.replace("-", "") * 2
    expected = hashlib.sha256(b"KotlinNativeAPI/rt").hexdigest()
    assert up.machine_id("not-valid", "rt") == expected
    assert up.machine_id(None, "rt") == expected


def test_proxy_assignment_is_stable() -> None:
    pool = up.parse_proxy_pool(" http://a:1 , http://b:2,,")
    assert pool == ("http://a:1", "http://b:2")
    first = up.assign_proxy("cred-1", pool)
    assert first in pool and all(up.assign_proxy("cred-1", pool) == first for _ in range(5))
    assert up.assign_proxy("cred-1", pool, own="http://own:3") == "http://own:3"
    assert up.assign_proxy("cred-1", ()) is None
    assert up.parse_proxy_pool(None) == ()


def test_headers() -> None:
    chat = up.chat_headers("tok", "m" * 64)
    assert chat["Authorization"] == "Bearer tok"
    assert chat["x-amzn-kiro-agent-mode"] == "vibe"
    assert chat["user-agent"].endswith(f"KiroIDE-{up.KIRO_VERSION}-{'m' * 64}")
    assert "tokentype" not in chat
    assert up.chat_headers("ksk_x", "m", api_key=True)["tokentype"] == "API_KEY"
    assert "m/N,E" in up.runtime_headers("tok", "m")["user-agent"]
    assert up.social_refresh_headers("m")["user-agent"] == f"KiroIDE-{up.KIRO_VERSION}-m"
    assert "api/sso-oidc" in up.oidc_headers()["user-agent"]


def test_usage_limits_path() -> None:
    assert up.usage_limits_path(None) == "/getUsageLimits?origin=AI_EDITOR&resourceType=AGENTIC_REQUEST"
    path = up.usage_limits_path("arn:aws:x:y", email=True)
    assert path.endswith("&isEmailRequired=true&profileArn=arn%3Aaws%3Ax%3Ay")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("2m", 120.0), ("1h", 3600.0), ("500ms", 0.5), (" 1.5m ", 90.0), (7, 7.0)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert up.parse_duration(text) == seconds


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        up.parse_duration("soon")
