"""Simulator settings: environment (`KIRO_SIM_*`), `.env`, and keyword arguments.

One `SimSettings` object is built by `__main__` (environment plus CLI flags) or by a test
(keyword arguments) and handed to `create_app(settings)`. Nothing here reads the
environment at import time.

Deliberately not here: per-account knobs (those live on the account, see `accounts.py`) and
the validator rule switches' meaning (see `rules.py`; this file only holds which are off).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from kiro_service import BaseServiceSettings, LogLevel
from kiroproto.models import DEFAULT_KIRO_MODELS

Chunking = Literal["random", "frame", "whole"]

DEFAULT_MODELS: tuple[str, ...] = (*DEFAULT_KIRO_MODELS, "auto")
"""The 2026 catalogue (CONTRACTS.md "Models", reference §19.4): kiroproto's list of Kiro ids, plus
"auto"."""

# The well-known shared profile ARN of social-login users in us-east-1 (kiro-protocol.md §9.2).
SOCIAL_PROFILE_ARN = "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK"


class SimSettings(BaseServiceSettings):
    """Process-wide settings of one simulator instance (`KIRO_SIM_LOG_LEVEL`, not `LOG_LEVEL`:
    the simulator stands in for the upstream, not for one of the services)."""

    model_config = SettingsConfigDict(env_prefix="KIRO_SIM_")  # merged with the base's

    host: str = "127.0.0.1"
    port: int = Field(default=8999, ge=0, le=65535)
    log_level: LogLevel = "INFO"
    accounts_file: Path | None = None
    seed_demo: bool = False
    # Base URL put into device-flow verification URIs; default: derived from the request's Host.
    public_url: str | None = None

    # Tokens.
    access_token_ttl: int = Field(default=3600, ge=1)
    refresh_grace_seconds: float = Field(default=0.0, ge=0)

    # Chat request validation (kiro-protocol.md §15).
    body_limit: int = Field(default=600_000, ge=1)
    tool_name_max: int = Field(default=64, ge=1)
    tool_description_max: int = Field(default=10_000, ge=1)
    disabled_rules: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Response generation.
    chunking: Chunking = "random"
    seed: int = 0
    text_fragment_max: int = Field(default=6, ge=1)
    context_window_default: int = 200_000
    context_window_large: int = 1_000_000  # Claude 4.6 and newer (plan.context_window)

    # New accounts (control API, login flows) start with these.
    default_models: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_MODELS))
    default_credits_limit: float = 1000.0
    social_profile_arn: str = SOCIAL_PROFILE_ARN

    # OIDC device flow and social login.
    device_expires_in: int = Field(default=600, ge=1)
    device_interval: int = Field(default=5, ge=0)
    login_code_ttl: int = Field(default=600, ge=1)
    client_secret_ttl: int = Field(default=90 * 24 * 3600, ge=1)

    # Longest wait of a request held by a `hold` script before it proceeds anyway.
    hold_timeout: float = Field(default=60.0, gt=0)

    @field_validator("disabled_rules", "default_models", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept a JSON list or a comma-separated string from the environment."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value
