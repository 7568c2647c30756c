"""Every Redis key the dashboard uses (and the admin-session keys the oauth service reads).

- `{prefix}:admin:session:{sid}`        STRING "1" while a login session is valid (TTL = the
                                        session's lifetime); logout deletes it
- `{prefix}:dashboard:traffic:{start}`  HASH, the traffic counters of one time bucket starting at
                                        epoch second `start` (fields in `traffic/buckets.py`)
"""

from __future__ import annotations

TRAFFIC_BUCKET_S = 10  # width of one traffic bucket
TRAFFIC_TTL_S = 2 * 3600 + 60  # a bucket outlives the one-hour view comfortably


class Keys:
    __slots__ = ("admin", "base")

    def __init__(self, prefix: str) -> None:
        self.admin = f"{prefix}:admin:"
        self.base = f"{prefix}:dashboard:"

    def session(self, sid: str) -> str:
        return self.admin + "session:" + sid

    def traffic_bucket(self, start: int) -> str:
        return self.base + "traffic:" + str(start)
