"""Every Redis key the broker uses, one builder each, all under `{KIRO_REDIS_PREFIX}:broker:`.

Data model (Redis is the source of truth; see README "Redis data model"):

- `creds`                 SET of credential ids
- `cred:{id}`             HASH, one credential record (fields in `records.py`)
- `leases:{id}`           ZSET lease id -> expiry (epoch ms); expired members are purged by
                          the acquire script, so a dead gateway or broker never leaks a slot
- `lease:{lease_id}`      HASH credential_id / request_id / instance / granted_ms, with a TTL
- `waiters`               ZSET waiting lease request -> end of its wait (epoch ms): while one
                          waits for a full pool, no grant is reusable (gateway lease reuse)
- `deleted`               SET of identities deleted by an operator (not re-imported from config)
- `lock:refresh:{id}`     STRING single-flight refresh lock (token, PX)
- `lock:job:{name}`       STRING "one replica per period" lock for periodic jobs (PX = period)
- `catalogue:{id}`        HASH the account's live catalogue: `_fetched_ms` -> epoch ms, and per
                          Kiro model id its `CatalogueModel` JSON (absent: catalogue unknown)
- `lacks:{id}`            HASH Kiro model id -> ms: the account answered INVALID_MODEL_ID for it
                          (not leased for that model until the next full catalogue refresh)
- `config:brokers`        ZSET broker instance -> heartbeat expiry (ms) (config.py)
- `config:hashes`         HASH broker instance -> hash of its KIRO_AUTH_TOKEN identities
- `config:applied`        STRING the configuration hash whose retirements were last applied
- `session:{hash}`        HASH current / first account of a client session (PX =
                          BROKER_SESSION_TTL); the session id is hashed, never stored

The Lua scripts receive the prefixes of the per-credential keys (`cred.prefix`,
`leases.prefix`, `lease.prefix`, `catalogue.prefix`, `lacks.prefix`) from here, so key names are
built in this module only.
"""

from __future__ import annotations

from kiro_service.keyspace import Key, KeyFamily, KeySpace

# TTLs (milliseconds)
REFRESH_LOCK_TTL_MS = 30_000  # longer than the refresh HTTP timeout
LEASE_KEY_GRACE_MS = 5_000  # a lease hash outlives its zset score a little


class RedisKeys(KeySpace):
    """Builders of the broker's Redis key names (the table above); not API keys (teams.py)."""

    __slots__ = ()
    area = "broker"

    # ---- credentials and their leases
    creds = Key("creds")
    cred = KeyFamily("cred:")
    leases = KeyFamily("leases:")
    lease = KeyFamily("lease:")
    waiters = Key("waiters")
    deleted = Key("deleted")
    session = KeyFamily("session:")
    refresh_lock = KeyFamily("lock:refresh:")

    # ---- live catalogue (catalogue.py)
    catalogue = KeyFamily("catalogue:")
    lacks = KeyFamily("lacks:")

    # ---- configuration generations (config.py)
    config_brokers = Key("config:brokers")
    config_hashes = Key("config:hashes")
    config_applied = Key("config:applied")

    # ---- periodic jobs
    job_lock = KeyFamily("lock:job:")


# ---- team keys, limits and usage (teams.py, team_limits.py, team_usage.py), under `{prefix}:teams:`
#
# - the fixed keys and key families: beside their declarations below
# - `team:{team}:inflight`    ZSET request id -> slot expiry (ms): concurrency
# - `team:{team}:rpm`         ZSET request id -> admission time (ms): sliding one-minute request log
# - `team:{team}:tpm`         HASH epoch second -> tokens finished in that second (last minute only)
# - `team:{team}:spent:{YYYY-MM}`  STRING tokens (input + output) of the calendar month (UTC)
# - `team:{team}:credits:{YYYY-MM}`  STRING Kiro credits (float) of the calendar month (UTC)
USAGE_DONE_TTL_S = 86_400
SPENT_TTL_S = 100 * 86_400  # a month's spend counter outlives its month (the history is in usage:*)
WINDOW_MS = 60_000  # rpm / tpm window


class TeamRedisKeys(KeySpace):
    """Builders of the Redis key names of team keys, limits and usage (the table above)."""

    __slots__ = ()
    area = "teams"

    keys = Key("keys")  # SET of key ids
    teams = Key("teams")  # SET of the team names that have keys or usage
    key = KeyFamily("key:")  # HASH by key id: its record (no secret: `hash` is the key's SHA-256)
    key_hash = KeyFamily("keyhash:")  # STRING by SHA-256: the key id (the key is never stored)
    usage_day = KeyFamily("usage:")  # HASH by YYYY-MM-DD: `{team}|{key id}|{model}|{metric}` -> count
    done = KeyFamily("done:")  # STRING by request id: a usage record already applied (TTL 1 day)

    def _team(self, team: str, what: str) -> str:
        return f"{self.base}team:{team}:{what}"

    def inflight(self, team: str) -> str:
        return self._team(team, "inflight")

    def rpm(self, team: str) -> str:
        return self._team(team, "rpm")

    def tpm(self, team: str) -> str:
        return self._team(team, "tpm")

    def spent(self, team: str, month: str) -> str:
        return self._team(team, "spent:" + month)

    def credits_spent(self, team: str, month: str) -> str:
        return self._team(team, "credits:" + month)
