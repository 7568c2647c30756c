"""Pure units of the live catalogue and the configuration authority: ListAvailableModels
parsing and paging (MockTransport), identities a configuration claims, configuration hashes."""

from __future__ import annotations

import httpx
import orjson
import pytest

from kiroproto.credentials import credential_identity
from token_broker.catalogue import parse_model
from token_broker.config import config_hash
from token_broker.errors import KiroApiError
from token_broker.kiro_api import RuntimeTarget, fetch_models
from token_broker.store import claimed_identities


def test_parse_model_keeps_windows_rates_caching_and_schema() -> None:
    entry = {
        "modelId": "claude-opus-4.8",
        "modelName": "Claude Opus 4.8",
        "rateMultiplier": 2.2,
        "tokenLimits": {"maxInputTokens": 1_000_000, "maxOutputTokens": 64_000},
        "promptCaching": {"supported": True},
        "additionalModelRequestFieldsSchema": '{"type": "object"}',
    }
    model = parse_model(entry)
    assert model is not None
    assert (model.id, model.context_window, model.max_output_tokens) == ("claude-opus-4.8", 1_000_000, 64_000)
    assert model.rate_multiplier == 2.2 and model.prompt_caching is True
    assert model.request_fields_schema == {"type": "object"}
    classic = parse_model({"modelId": "claude-sonnet-4.5", "supportsPromptCache": False, "tokenLimits": None})
    assert classic is not None and classic.prompt_caching is False and classic.context_window is None
    assert parse_model({"modelName": "nameless"}) is None


async def test_fetch_models_follows_next_token_and_drops_a_foreign_profile_arn() -> None:
    seen: list[httpx.URL] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        assert request.headers["tokentype"] == "API_KEY"
        if "profileArn" in request.url.params:
            return httpx.Response(403, json={"message": "User is not authorized"})
        page = request.url.params.get("nextToken")
        if page is None:
            return httpx.Response(200, json={"models": [{"modelId": "a"}], "nextToken": "p2"})
        return httpx.Response(200, json={"models": [{"modelId": "b"}], "nextToken": None})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        models = await fetch_models(
            RuntimeTarget(
                client=client,
                access_token="ksk_x",
                machine="m",
                profile_arn="arn:aws:codewhisperer:us-east-1:1:profile/X",
                region="us-east-1",
                api_base_template="http://sim",
                api_key=True,
            )
        )
    assert [m["modelId"] for m in models] == ["a", "b"]
    assert len(seen) == 3 and seen[-1].params["nextToken"] == "p2"

    def broken(_: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"message": "boom"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(broken)) as client:
        with pytest.raises(KiroApiError, match="http_500"):
            await fetch_models(
                RuntimeTarget(
                    client=client,
                    access_token="t",
                    machine="m",
                    profile_arn=None,
                    region="us-east-1",
                    api_base_template="http://sim",
                )
            )


def test_claimed_identities_include_bad_entries() -> None:
    text = orjson.dumps(
        [
            {"id": "named", "auth": "Weird"},
            {"refreshToken": "aorBroken", "auth": "IdC"},  # IdC without client: a problem, still claimed
            {"kiroApiKey": "ksk_abc"},
            "junk",
        ]
    ).decode()
    assert claimed_identities(text) == {
        "named",
        credential_identity("aorBroken"),
        credential_identity("ksk_abc"),
    }
    assert claimed_identities("not json") == frozenset()


def test_config_hash_depends_on_the_identities_only() -> None:
    assert config_hash(frozenset({"a", "b"})) == config_hash(frozenset({"b", "a"}))
    assert config_hash(frozenset({"a"})) != config_hash(frozenset({"a", "b"}))
