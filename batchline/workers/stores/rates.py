"""The shared rate limit's counters: provider calls per wall-clock second, in Redis."""

from __future__ import annotations

from batchline.workers.stores.base import RedisStore

#: Seconds a counter outlives its second (long enough for every clock's idea of "now").
COUNTER_TTL = 5


class RateStore(RedisStore):
    """Counts provider calls per provider and second."""

    def add(self, provider: str, second: int, calls: int) -> int:
        """Count ``calls`` more in ``second``; return the total counted in it."""
        key = self.keys.rate(provider, second)
        pipe = self.redis.pipeline(transaction=False)
        pipe.incrby(key, calls)
        pipe.expire(key, COUNTER_TTL)
        used, _ = pipe.execute()
        return int(used)
