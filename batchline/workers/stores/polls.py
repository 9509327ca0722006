"""The poll schedule: per provider, a sorted set of ``{job_id}:{shard}`` scored by due time.

A tick claims the due members by pushing their score a lease ahead (one Lua call, so two
ticks never claim the same shard); a poller that dies simply lets its lease run out.
"""

from __future__ import annotations

from typing import Any

from batchline.workers.stores.base import Pipeline, RedisStore

# Take up to ARGV[3] members due at ARGV[1] and lease them until ARGV[2].
_CLAIM_DUE = """
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], member)
end
return due
"""


def member(job_id: str, shard: int) -> str:
    """The schedule's member for one shard."""
    return f"{job_id}:{shard}"


def parse_member(item: str) -> tuple[str, int]:
    """``(job id, shard index)`` of a schedule member (the inverse of ``member``)."""
    job_id, _, index = item.rpartition(":")
    return job_id, int(index)


class PollStore(RedisStore):
    """When each submitted shard is next polled."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claim_due = self.redis.register_script(_CLAIM_DUE)

    def schedule(
        self, provider: str, job_id: str, shard: int, at: float, pipe: Pipeline | None = None
    ) -> None:
        """Poll the shard at ``at`` (epoch seconds), whenever it was due before."""
        target = pipe if pipe is not None else self.redis
        target.zadd(self.keys.pending(provider), {member(job_id, shard): at})

    def ensure(self, provider: str, job_id: str, shard: int, at: float) -> bool:
        """Schedule the shard at ``at`` unless it is scheduled already; True if it was not
        (its entry was lost: the sweep puts it back)."""
        return bool(
            self.redis.zadd(self.keys.pending(provider), {member(job_id, shard): at}, nx=True)
        )

    def claim_due(
        self, provider: str, *, due_by: float, lease_until: float, limit: int
    ) -> list[str]:
        """Up to ``limit`` members due by ``due_by``, leased (pushed) to ``lease_until``."""
        due: list[str] = self._claim_due(
            keys=[self.keys.pending(provider)], args=[due_by, lease_until, limit]
        )
        return due

    def count(self, provider: str) -> int:
        """How many shards of ``provider`` are pending (due or not)."""
        return int(self.redis.zcard(self.keys.pending(provider)))

    def drop(self, provider: str, item: str) -> None:
        """Stop polling a member (its shard ended, or its job is gone)."""
        self.redis.zrem(self.keys.pending(provider), item)
