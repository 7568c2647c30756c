"""schemathesis against the gateway's OpenAPI description (`openapi.py`), positive and negative
cases on every operation; the oracle is the same as the hypothesis suite's (`oracle.py`).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from kiro_testing.chaos.deployment import CLIENT_KEY

from .conftest import examples
from .openapi import gateway_openapi
from .oracle import check_answer

pytestmark = [pytest.mark.integration]

schema = schemathesis.openapi.from_dict(gateway_openapi())
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=examples(40),
    allow_x00=True,
)


@schema.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_gateway_operations(case: schemathesis.Case[Any], gateway_url: str) -> None:
    headers = {"x-api-key": CLIENT_KEY, "authorization": f"Bearer {CLIENT_KEY}", **dict(case.headers or {})}
    response = case.call(base_url=gateway_url, headers=headers, timeout=20)
    pairs = [(k, v) for k, values in response.headers.items() for v in values]
    raw = httpx.Response(response.status_code, headers=pairs, content=response.content)
    check_answer(case.method.upper(), case.formatted_path, raw, response.content)
