"""`/api/tokens` per CONTRACTS.md: `auth_type`, `source`, `status` (retired with its reason) and
`models` (the account's live catalogue, empty until known); an API key only as a fingerprint."""

from __future__ import annotations

from dashboard.tokens_api import tokens_payload
from kiroproto.bus import CatalogueModel, CredentialStatus, CredentialStatusKind, PoolStatus


def test_tokens_carry_catalogue_source_and_retirement() -> None:
    creds = (
        CredentialStatus(
            id="org-key",
            auth="ApiKey",
            status=CredentialStatusKind.ACTIVE,
            source="config",
            access_token_fingerprint="sha256:0123456789",
            models=(CatalogueModel(id="claude-opus-4.8", context_window=1_000_000, rate_multiplier=2.2),),
            catalogue_at=1_780_000_000.0,
        ),
        CredentialStatus(
            id="old",
            auth="Social",
            status=CredentialStatusKind.RETIRED,
            reason="removed from KIRO_AUTH_TOKEN",
            source="config",
        ),
        CredentialStatus(id="web", auth="IdC", status=CredentialStatusKind.ACTIVE, source="oauth"),
    )
    pool = PoolStatus(total=3, active=2, in_flight=0, credentials=creds, generated_at=1_780_000_000.0)
    tokens = {t["id"]: t for t in tokens_payload(pool, {}, 1_780_000_000.0)["tokens"]}
    key = tokens["org-key"]
    assert (key["auth_type"], key["source"], key["status"]) == ("ApiKey", "config", "active")
    assert key["models"] == [{"id": "claude-opus-4.8", "context_window": 1_000_000}]
    assert key["token_preview"] == "sha256:0123456789" and key["refresh_token_preview"] is None
    old = tokens["old"]
    assert (old["status"], old["reason"], old["models"]) == ("retired", "removed from KIRO_AUTH_TOKEN", [])
    assert tokens["web"]["source"] == "oauth"
