"""The upstream client: URL per region, headers of §2.2, proxy per credential."""

from __future__ import annotations

import httpx
from gw_fakes import lease_grant
from gw_helpers import make_settings

from gateway.upstream import UpstreamClient
from kiroproto.bus import LeaseGrant


def grant(credential_id: str, *, proxy: str | None = None, region: str = "eu-central-1") -> LeaseGrant:
    return lease_grant(
        credential_id=credential_id, access_token="tok", machine_id="a" * 64, proxy=proxy, region=region
    )


async def test_region_url_headers_and_stable_proxy_per_credential() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"")

    pool = ("http://proxy-a:3128", "http://proxy-b:3128")
    settings = make_settings(
        kiro_api_base_url="http://q.{region}.test",
        kiro_region="us-east-1",
        gateway_connect_timeout=1,
        gateway_read_timeout=1,
        gateway_max_connections=4,
        proxy_pool=",".join(pool),
    )
    client = UpstreamClient(settings, transport=httpx.MockTransport(handler))
    try:
        for cred in ("one", "two", "one"):
            response = await client.open_chat(grant(cred), b"{}")
            await response.aclose()
        own = await client.open_chat(grant("three", proxy="http://own:1"), b"{}")
        await own.aclose()
        assert str(seen[0].url) == "http://q.eu-central-1.test/generateAssistantResponse"
        assert seen[0].headers["authorization"] == "Bearer tok"
        assert seen[0].headers["user-agent"].endswith("KiroIDE-0.11.107-" + "a" * 64)
        assert len(set(seen[0].headers["amz-sdk-invocation-id"] for _ in seen)) == 1
        keys = set(client._clients)
        assert "http://own:1" in keys
        assert keys - {"http://own:1"} <= set(pool)
        assert None not in keys  # with a pool, nothing leaves directly
    finally:
        await client.aclose()
