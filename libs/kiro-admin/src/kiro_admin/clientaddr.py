"""The client's address for per-address limits, trusting `x-forwarded-for` only from proxies.

`FORWARDED_ALLOW_IPS` (CONTRACTS.md) lists the proxies whose `x-forwarded-for` is believed:
addresses and networks separated by commas (`127.0.0.1,10.0.0.0/8`), `*` for every peer, empty
for none. When the peer is such a proxy, the chain is read from the right and the first address
that is not a trusted proxy is the client (what each proxy appended is believed, what the
client wrote itself is not); from any other peer the header is ignored, so a client talking to
the service directly cannot choose its address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, spec: str) -> None:
        entries = [part.strip() for part in spec.split(",") if part.strip()]
        self.everyone = "*" in entries
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in entries if entry != "*"
        )

    def trusts(self, host: str) -> bool:
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client_address(self, peer: str | None, forwarded_for: Iterable[str]) -> str:
        """`peer` is the TCP peer; `forwarded_for` every `x-forwarded-for` header value, in order."""
        if not peer:
            return "unknown"
        if not self.trusts(peer):
            return peer
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer


def validate_spec(spec: str) -> str:
    """For the settings: every entry is `*`, an address or a network."""
    TrustedProxies(spec)
    return spec
