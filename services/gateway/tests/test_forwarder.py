"""The forwarder's path check and its cookie jar (the real-stack tests are in
tests/security/test_edge_forwarder.py)."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.forward_path import BadPath, check_path, is_service_local
from gateway.forwarder import Forwarder, NoCookieJar


@pytest.mark.parametrize(
    "path",
    ["/api/../metrics", "/./x", "/a/.", "/a/..", "//metrics", "/a//b", "/\x00", "/a\nb", "/a\\b", "x"],
)
def test_ambiguous_paths_are_refused(path: str) -> None:
    with pytest.raises(BadPath):
        check_path(path, None)


def test_the_raw_path_is_forwarded_as_sent() -> None:
    assert check_path("/static/a b.js", b"/static/a%20b.js").raw == b"/static/a%20b.js"
    assert check_path("/oauth/", b"/oauth/").raw == b"/oauth/"
    assert check_path("/x y", None).raw == b"/x%20y"


@given(st.lists(st.text(alphabet="abc.%/2eE", max_size=6), max_size=5))
def test_a_forwarded_path_never_changes_under_normalisation(segments: list[str]) -> None:
    path = "/" + "/".join(segments)
    try:
        checked = check_path(path, None)
    except BadPath:
        return
    url = httpx.URL("http://127.0.0.1:1").copy_with(raw_path=checked.raw)
    assert url.raw_path == checked.raw  # the HTTP client sends exactly what was routed on


def test_service_local_paths() -> None:
    assert all(is_service_local(p) for p in ("/metrics", "/metrics/", "/healthz/x", "/readyz"))
    assert not any(is_service_local(p) for p in ("/", "/api/tokens", "/metricsx", "/oauth"))


def test_the_jar_never_stores() -> None:
    cookies = httpx.Cookies(NoCookieJar())
    request = httpx.Request("GET", "http://127.0.0.1:1/")
    cookies.extract_cookies(httpx.Response(200, headers={"set-cookie": "s=1; Path=/"}, request=request))
    cookies.set("a", "b")
    assert len(cookies.jar) == 0


def test_internal_locations_are_rewritten() -> None:
    fwd = Forwarder(dashboard_url="http://127.0.0.1:8083", oauth_url="http://127.0.0.1:8082/")
    assert fwd._public_location("http://127.0.0.1:8082/oauth") == "/oauth"  # noqa: SLF001
    assert fwd._public_location("http://127.0.0.1:8083?x=1") == "/?x=1"  # noqa: SLF001
    assert fwd._public_location("/teams") == "/teams"  # noqa: SLF001
    assert fwd._public_location("https://prod.example/login") == "https://prod.example/login"  # noqa: SLF001
