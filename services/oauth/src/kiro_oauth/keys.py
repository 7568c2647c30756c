"""Every Redis key the oauth service writes, all under `{KIRO_REDIS_PREFIX}:oauth:`.

- `device:{flow_id}`   STRING, a device-authorization flow (JSON, sealed when KIRO_SECRET_KEY is
                       set); TTL = the device code's lifetime + `FLOW_GRACE_S`; after the flow
                       ends its secrets are dropped and the outcome is kept for `DONE_TTL_S`
- `social:{state}`     STRING, a pending social login (PKCE verifier; sealed likewise); TTL
                       `OAUTH_SOCIAL_TTL`; taken with GETDEL, so each `state` is used once
- `lock:{flow_id}`     STRING, one poll of a device flow at a time across replicas (PX)

Admin sessions are the shared admin keys (`kiro_admin.AdminKeys`).
"""

from __future__ import annotations

from kiro_service.keyspace import KeyFamily, KeySpace

FLOW_GRACE_S = 60
DONE_TTL_S = 600
POLL_LOCK_MS = 30_000


class Keys(KeySpace):
    __slots__ = ()
    area = "oauth"

    device = KeyFamily("device:")  # by flow id
    social = KeyFamily("social:")  # by the login's `state`
    lock = KeyFamily("lock:")  # by flow id, held while one replica polls
