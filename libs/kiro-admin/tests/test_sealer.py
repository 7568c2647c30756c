"""Sealing at rest (AES-GCM with the Redis key as associated data), and the admin key kept in
Redis, sealed with the same scheme."""

from __future__ import annotations

import pytest

from kiro_admin.adminkey import AdminKeyError, unseal
from kiro_admin.sealer import Sealer


def test_sealer_round_trip_and_wrong_key() -> None:
    key = bytes(range(32))
    sealed = Sealer(key).seal('{"client_secret": "s3cret"}', "k1")
    assert "s3cret" not in sealed and sealed.startswith("enc:v1:")
    assert Sealer(key).open(sealed, "k1") == '{"client_secret": "s3cret"}'
    assert Sealer(key).open(sealed, "k2") is None  # the Redis key is bound in
    assert Sealer(bytes(32)).open(sealed, "k1") is None
    assert Sealer(None).open(sealed, "k1") is None
    assert Sealer(None).seal("plain", "k1") == "plain"


def test_admin_key_opens_only_with_its_key() -> None:
    key = bytes(range(32))
    sealed = Sealer(key).seal("the-admin-key", "kiro2api admin key")
    assert unseal(sealed, Sealer(key)) == "the-admin-key"
    assert unseal("kept-unsealed", Sealer(None)) == "kept-unsealed"
    with pytest.raises(AdminKeyError, match="KIRO_SECRET_KEY is unset"):
        unseal(sealed, Sealer(None))
    with pytest.raises(AdminKeyError, match="does not decrypt with KIRO_SECRET_KEY"):
        unseal(sealed, Sealer(bytes(32)))
