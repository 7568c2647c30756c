"""Token and identifier formats (kiro-protocol.md §3.4, §9.1, §12).

Access tokens are `aoa` + random URL-safe characters, refresh tokens `aor` + random (both
long, like the real ones); `redact()` is how every token appears in logs.

Deliberately not here: storing tokens or deciding their validity (`store.py`).
"""

from __future__ import annotations

import hashlib
import secrets
import string
import uuid
from random import Random

_URLSAFE = string.ascii_letters + string.digits + "-_"
_USER_CODE = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels, like AWS device codes

# The fixed refresh token of the `--seed-demo` account (documented in the README). It is a
# simulator credential and unlocks nothing anywhere else.
DEMO_REFRESH_TOKEN = "aorKiroSimDemo-" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" * 2


def _random(length: int) -> str:
    return "".join(secrets.choice(_URLSAFE) for _ in range(length))


def new_access_token() -> str:
    return "aoaAAAAAG" + _random(180)


def new_refresh_token() -> str:
    return "aorAAAAAG" + _random(160)


def new_client_id() -> str:
    return _random(22)


def new_client_secret() -> str:
    return "eyJraWQiOiJzaW0i" + _random(200)


def new_device_code() -> str:
    return _random(64)


def new_login_code() -> str:
    return _random(48)


def new_user_code() -> str:
    pick = "".join(secrets.choice(_USER_CODE) for _ in range(8))
    return f"{pick[:4]}-{pick[4:]}"


def new_request_id() -> str:
    return str(uuid.uuid4())


def tool_use_id(rng: Random) -> str:
    """`tooluse_` + 22 URL-safe characters (§3.4), drawn from the request's seeded RNG."""
    return "tooluse_" + "".join(rng.choice(_URLSAFE) for _ in range(22))


def redact(token: str | None) -> str:
    """A log-safe stand-in: prefix and a short hash, never the token itself."""
    if not token:
        return "-"
    digest = hashlib.sha256(token.encode()).hexdigest()[:10]
    return f"{token[:3]}…{digest}"


def new_api_key() -> str:
    """A Kiro API key (reference §19.6)."""
    return "ksk_" + _random(48)
