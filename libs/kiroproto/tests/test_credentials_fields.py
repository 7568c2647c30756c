"""Credential fields that reach a host name or a header are validated (security review, finding 6):
nothing a credential carries can change which host its refresh token is sent to."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from kiroproto.credentials import CredentialConfig, check_proxy_url, check_region, parse_credentials
from kiroproto.upstream import DEFAULT_AUTH_BASE_URL, base_url

RT = "aorAAAAAGrefresh"


@pytest.mark.parametrize(
    "region", ["us-east-1", "eu-central-1", "ap-southeast-2", "us-gov-west-1", "EU-West-3 "]
)
def test_real_regions_pass(region: str) -> None:
    assert check_region(region) == region.strip().lower()


@pytest.mark.parametrize(
    "region", ["x@127.0.0.1:9/", "us-east-1.evil.com", "us-east-1/", "useast1", "us-east-", "", "us east 1"]
)
def test_other_regions_are_refused(region: str) -> None:
    with pytest.raises(ValueError, match="region"):
        check_region(region)


@given(st.text(max_size=40))
def test_a_region_either_fails_or_names_only_the_region_label(text: str) -> None:
    try:
        region = check_region(text)
    except ValueError:
        return
    host = urlsplit(base_url(DEFAULT_AUTH_BASE_URL, region)).hostname
    assert host == f"prod.{region}.auth.desktop.kiro.dev"


@pytest.mark.parametrize(
    "proxy",
    ["http://proxy.local:3128", "https://u:p@10.0.0.1:8443/", "socks5://[::1]:1080", "socks5h://p.example"],
)
def test_proxies_of_the_right_shape_pass(proxy: str) -> None:
    assert check_proxy_url(proxy) == proxy.rstrip("/")


@pytest.mark.parametrize(
    ("proxy", "why"),
    [
        ("file:///etc/passwd", "http, https"),
        ("gopher://h:70", "http, https"),
        ("http://", "host"),
        ("http://h:1/path", "path"),
        ("http://h:1/?q=1", "path"),
        ("http://h:99999", "valid URL"),
        ("http://h:0", "port"),
    ],
)
def test_other_proxies_are_refused(proxy: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_proxy_url(proxy)


def test_profile_arn_and_machine_id_are_checked() -> None:
    good = CredentialConfig.model_validate(
        {"refreshToken": RT, "profileArn": "arn:aws:codewhisperer:us-east-1:123456789012:profile/ABC"}
    )
    assert good.profile_arn is not None
    with pytest.raises(ValidationError, match="profileArn"):
        CredentialConfig.model_validate(
            {"refreshToken": RT, "profileArn": "arn:aws:codewhisperer:x@h:9/:123456789012:profile/A"}
        )
    with pytest.raises(ValidationError, match="machineId"):
        CredentialConfig.model_validate({"refreshToken": RT, "machineId": "a\r\nHost: evil"})
    blank = CredentialConfig.model_validate(
        {"refreshToken": RT, "machineId": " ", "profileArn": "", "region": "", "proxy": ""}
    )
    assert (blank.machine_id, blank.profile_arn, blank.region, blank.proxy) == (None, None, None, None)


def test_a_bad_field_is_reported_by_index_and_the_others_load() -> None:
    text = f'[{{"refreshToken": "{RT}", "region": "x@h:9/"}}, {{"refreshToken": "{RT}2"}}]'
    result = parse_credentials(text)
    assert [p.index for p in result.problems] == [0]
    assert "region" in result.problems[0].reason
    assert len(result.credentials) == 1
