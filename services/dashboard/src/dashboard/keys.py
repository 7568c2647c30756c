"""Every Redis key the dashboard writes, under `{KIRO_REDIS_PREFIX}:dashboard:` (the admin
sessions and sign-in counts are `kiro_admin.AdminKeys`, shared with the oauth service).

- `traffic:{start}`  HASH, the traffic counters of one time bucket starting at epoch second
                     `start` (fields in `traffic/buckets.py`)
"""

from __future__ import annotations

from kiro_service.keyspace import KeySpace

TRAFFIC_BUCKET_S = 10  # width of one traffic bucket
TRAFFIC_TTL_S = 2 * 3600 + 60  # a bucket outlives the one-hour view comfortably


class Keys(KeySpace):
    __slots__ = ()
    area = "dashboard"

    def traffic_bucket(self, start: int) -> str:
        return self.base + "traffic:" + str(start)
