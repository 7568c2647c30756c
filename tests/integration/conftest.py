"""SDK clients on the gateway of the module's `pool` (a `kiro_testing.stack.Stack` fixture each
module defines), with the operator's client key."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from kiro_testing.stack import CLIENT_TOKEN, Stack

SDK_TIMEOUT_S = 60.0


@pytest.fixture
def claude(pool: Stack) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=pool.gateway_url(), api_key=CLIENT_TOKEN, max_retries=0, timeout=SDK_TIMEOUT_S
    ) as client:
        yield client


@pytest.fixture
def oai(pool: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=pool.gateway_url() + "/v1", api_key=CLIENT_TOKEN, max_retries=0, timeout=SDK_TIMEOUT_S
    ) as client:
        yield client
