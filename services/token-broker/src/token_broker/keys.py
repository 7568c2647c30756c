"""Every Redis key the broker uses, one builder each, all under `{KIRO_REDIS_PREFIX}:broker:`.

Data model (Redis is the source of truth; see README "Redis data model"):

- `creds`                 SET of credential ids
- `cred:{id}`             HASH, one credential record (fields in `records.py`)
- `leases:{id}`           ZSET lease id -> expiry (epoch ms); expired members are purged by
                          the acquire script, so a dead gateway or broker never leaks a slot
- `lease:{lease_id}`      HASH credential_id / request_id / instance / granted_ms, with a TTL
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

The Lua scripts receive the prefixes of the per-credential keys (`cred_prefix`,
`leases_prefix`, `lease_prefix`) from here, so key names are built in this module only.
"""

from __future__ import annotations

# TTLs (milliseconds)
REFRESH_LOCK_TTL_MS = 30_000  # longer than the refresh HTTP timeout
LEASE_KEY_GRACE_MS = 5_000  # a lease hash outlives its zset score a little


class RedisKeys:
    """Builders of the broker's Redis key names (the table above); not API keys (teams.py)."""

    __slots__ = ("base",)

    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}:broker:"

    # ---- collections
    @property
    def creds(self) -> str:
        return self.base + "creds"

    @property
    def deleted(self) -> str:
        return self.base + "deleted"

    # ---- per credential
    @property
    def cred_prefix(self) -> str:
        return self.base + "cred:"

    def cred(self, credential_id: str) -> str:
        return self.cred_prefix + credential_id

    @property
    def leases_prefix(self) -> str:
        return self.base + "leases:"

    def leases(self, credential_id: str) -> str:
        return self.leases_prefix + credential_id

    @property
    def lease_prefix(self) -> str:
        return self.base + "lease:"

    def lease(self, lease_id: str) -> str:
        return self.lease_prefix + lease_id

    def session(self, session_hash: str) -> str:
        return self.base + "session:" + session_hash

    def refresh_lock(self, credential_id: str) -> str:
        return self.base + "lock:refresh:" + credential_id

    # ---- live catalogue (catalogue.py)
    @property
    def catalogue_prefix(self) -> str:
        return self.base + "catalogue:"

    def catalogue(self, credential_id: str) -> str:
        return self.catalogue_prefix + credential_id

    @property
    def lacks_prefix(self) -> str:
        return self.base + "lacks:"

    def lacks(self, credential_id: str) -> str:
        return self.lacks_prefix + credential_id

    # ---- configuration generations (config.py)
    @property
    def config_brokers(self) -> str:
        return self.base + "config:brokers"

    @property
    def config_hashes(self) -> str:
        return self.base + "config:hashes"

    @property
    def config_applied(self) -> str:
        return self.base + "config:applied"

    # ---- periodic jobs
    def job_lock(self, name: str) -> str:
        return self.base + "lock:job:" + name


# ---- team keys, limits and usage (teams.py, team_limits.py, team_usage.py), under `{prefix}:teams:`
#
# - `keys`                    SET of key ids
# - `key:{id}`                HASH, one key record (no secret: `hash` is the SHA-256 of the key)
# - `keyhash:{sha256}`        STRING -> key id (the lookup index; the key itself is never stored)
# - `team:{team}:inflight`    ZSET request id -> slot expiry (ms): concurrency
# - `team:{team}:rpm`         ZSET request id -> admission time (ms): sliding one-minute request log
# - `team:{team}:tpm`         HASH epoch second -> tokens finished in that second (last minute only)
# - `team:{team}:spent:{YYYY-MM}`  STRING tokens (input + output) of the calendar month (UTC)
# - `team:{team}:credits:{YYYY-MM}`  STRING Kiro credits (float) of the calendar month (UTC)
# - `usage:{YYYY-MM-DD}`      HASH `{team}|{key id}|{model}|{metric}` -> count (durable history)
# - `done:{request id}`       STRING, a usage record already applied (idempotency, TTL 1 day)
# - `teams`                   SET of team names that have keys or usage
USAGE_DONE_TTL_S = 86_400
SPENT_TTL_S = 100 * 86_400  # a month's spend counter outlives its month (the history is in usage:*)
WINDOW_MS = 60_000  # rpm / tpm window


class TeamRedisKeys:
    """Builders of the Redis key names of team keys, limits and usage (the table above)."""

    __slots__ = ("base",)

    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}:teams:"

    @property
    def keys(self) -> str:
        return self.base + "keys"

    @property
    def teams(self) -> str:
        return self.base + "teams"

    def key(self, key_id: str) -> str:
        return self.base + "key:" + key_id

    def key_hash(self, digest: str) -> str:
        return self.base + "keyhash:" + digest

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

    def usage_day(self, day: str) -> str:
        return self.base + "usage:" + day

    def done(self, request_id: str) -> str:
        return self.base + "done:" + request_id
