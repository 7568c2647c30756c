"""Every Redis key of the admin plumbing, all under `{KIRO_REDIS_PREFIX}:admin:` (shared by the
dashboard and the oauth service: one login serves both).

- `session:{sid}`              STRING "1" while a login session is valid (TTL = the session's
                               lifetime); logout deletes it (`auth.py`)
- `login-failures:{address}`   INTEGER, failed sign-ins of one client address in the current
                               window (TTL = the window; `loginlimit.py`)
- `key`                        STRING, the generated admin key when `KIRO_ADMIN_TOKEN` is unset
                               (sealed with `KIRO_SECRET_KEY` when set; `adminkey.py`)
"""

from __future__ import annotations

from kiro_service.keyspace import Key, KeyFamily, KeySpace


class AdminKeys(KeySpace):
    __slots__ = ()
    area = "admin"

    session = KeyFamily("session:")  # by session id (auth.py)
    login_failures = KeyFamily("login-failures:")  # by client address bucket (loginlimit.py)
    admin_key = Key("key")  # adminkey.py
