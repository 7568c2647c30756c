"""The traffic history in Redis: one hash of counters per time bucket (see `buckets.py`).

Writes are HINCRBY in one pipeline per gateway `TrafficReport` (about one a second per gateway
replica) plus an EXPIRE per bucket, so every replica can write and nothing needs a lock. Reads
fetch the hour's bucket hashes in one pipeline.
"""

from __future__ import annotations

from redis.asyncio import Redis

from dashboard.keys import TRAFFIC_BUCKET_S, TRAFFIC_TTL_S, Keys
from dashboard.traffic.buckets import BucketCounts, bucket_starts, bucket_sums
from dashboard.traffic.snapshot import TrafficSnapshot, build_snapshot, group
from kiroproto.bus import TrafficReport

WINDOW_S = 3600
STEP_S = 30  # one chart point: 3 buckets, 120 points per hour


class TrafficStore:
    def __init__(self, redis: Redis, keys: Keys, bucket_s: int = TRAFFIC_BUCKET_S) -> None:
        self._redis = redis
        self._keys = keys
        self.bucket_s = bucket_s

    async def record(self, report: TrafficReport) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for start, counts in bucket_sums(report.seconds, self.bucket_s).items():
                key = self._keys.traffic_bucket(start)
                for name, amount in counts.items():
                    pipe.hincrby(key, name, amount)
                pipe.expire(key, TRAFFIC_TTL_S)
            await pipe.execute()

    async def read(
        self, now: float, window_s: int = WINDOW_S, step_s: int = STEP_S
    ) -> tuple[list[int], list[BucketCounts]]:
        starts = bucket_starts(now, window_s, self.bucket_s, step_s)
        async with self._redis.pipeline(transaction=False) as pipe:
            for start in starts:
                pipe.hgetall(self._keys.traffic_bucket(start))
            raw: list[dict[str, str]] = await pipe.execute()
        return starts, [BucketCounts.from_hash(fields) for fields in raw]

    async def snapshot(self, now: float, window_s: int = WINDOW_S, step_s: int = STEP_S) -> TrafficSnapshot:
        starts, buckets = await self.read(now, window_s, step_s)
        points, grouped = group(starts, buckets, step_s)
        return build_snapshot(points, grouped, now=now, bucket_s=step_s)
