"""Which address a login attempt is counted against (kiro_admin.clientaddr)."""

from __future__ import annotations

import pytest

from kiro_admin.clientaddr import TrustedProxies, validate_spec
from kiro_admin.loginlimit import bucket


def test_an_untrusted_peer_cannot_choose_its_address() -> None:
    proxies = TrustedProxies("127.0.0.1")
    assert proxies.client_address("203.0.113.5", ["198.51.100.1"]) == "203.0.113.5"


def test_a_trusted_proxy_is_believed_from_the_right() -> None:
    proxies = TrustedProxies("127.0.0.1, 10.0.0.0/8")
    # The client wrote 1.1.1.1 itself; the edge (10.0.0.2) appended the real peer 203.0.113.5.
    assert proxies.client_address("127.0.0.1", ["1.1.1.1, 203.0.113.5", "10.0.0.2"]) == "203.0.113.5"
    assert proxies.client_address("127.0.0.1", []) == "127.0.0.1"
    assert proxies.client_address("127.0.0.1", ["10.0.0.3"]) == "10.0.0.3"
    assert proxies.client_address(None, []) == "unknown"


def test_specs() -> None:
    assert TrustedProxies("*").client_address("203.0.113.5", ["198.51.100.1"]) == "198.51.100.1"
    assert not TrustedProxies("").trusts("127.0.0.1")
    assert TrustedProxies("::1").trusts("::1")
    with pytest.raises(ValueError):
        validate_spec("not-an-address")


def test_an_ipv6_client_counts_by_its_64() -> None:
    assert bucket("2001:db8:1:2::5") == bucket("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert bucket("2001:db8:1:3::5") != bucket("2001:db8:1:2::5")
    assert bucket("::ffff:192.0.2.1") == "192.0.2.1"
    assert bucket("192.0.2.1") == "192.0.2.1"
    assert bucket("unknown") == "unknown"
