"""Job records and their shards in Redis: every write that must not race is one Lua call.

The job's state moves only by compare-and-set (``JobStore.transition``), so a task delivered
twice finds the job already moved and does nothing twice; shards use the same script.
Records go through ``batchline.workers.codec``: typed values here, strings in Redis.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from batchline.errors import JobNotFoundError
from batchline.workers import codec
from batchline.workers.jobs import (
    TRANSITIONS,
    Job,
    JobState,
    Shard,
    ShardState,
    log_state_change,
)
from batchline.workers.stores.base import Pipeline, RedisStore, mapping, strings

# Compare-and-set: move the hash only from a state listed in ARGV (after the 2 fixed ones).
_TRANSITION = """
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return false end
local n_from = tonumber(ARGV[2])
for i = 1, n_from do
  if ARGV[2 + i] == current then
    redis.call('HSET', KEYS[1], 'state', ARGV[1])
    for j = 3 + n_from, #ARGV, 2 do
      redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1])
    end
    return current
  end
end
return false
"""

# Write the shard plan once: a redelivered submit reads the first plan instead of making one.
# ARGV: the number of shards, the number of fields per shard, then each shard's field pairs
# (encoded in Python by the one codec, so the script knows no field names but shard_count).
_PLAN = """
local count = tonumber(redis.call('HGET', KEYS[1], 'shard_count') or '0')
if count > 0 then return count end
local n = tonumber(ARGV[1])
local width = 2 * tonumber(ARGV[2])
for i = 0, n - 1 do
  local key = KEYS[1] .. ':shard:' .. i
  local first = 3 + i * width
  for j = first, first + width - 1, 2 do
    redis.call('HSET', key, ARGV[j], ARGV[j + 1])
  end
end
redis.call('HSET', KEYS[1], 'shard_count', n)
return n
"""

# Move a sorted-set member's score to ARGV[3] only if it still is ARGV[2] (compared as
# numbers: the score read back is the same double that was written).
_CAS_SCORE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""


class JobStore(RedisStore):
    """Reads and writes job records and shards."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._transition = self.redis.register_script(_TRANSITION)
        self._plan = self.redis.register_script(_PLAN)
        self._cas_score = self.redis.register_script(_CAS_SCORE)

    # -- the record --------------------------------------------------------------------------
    def create(self, job: Job, pipe: Pipeline | None = None) -> None:
        target = pipe if pipe is not None else self.redis
        job.updated_at = job.updated_at or job.created_at
        target.hset(self.keys.job(job.id), mapping=mapping(codec.encode(job)))
        target.zadd(self.keys.jobs, {job.id: job.created_at})
        target.zadd(self.keys.active, {job.id: job.created_at})

    def load(self, job_id: str) -> Job:
        data = strings(self.redis.hgetall(self.keys.job(job_id)))
        if not data:
            raise JobNotFoundError(f"no job {job_id!r} under key prefix {self.keys.prefix!r}")
        return codec.decode(Job, data)

    def exists(self, job_id: str) -> bool:
        return bool(self.redis.exists(self.keys.job(job_id)))

    def update(self, job_id: str, **fields: Any) -> None:
        values = {name: codec.encode_value(value) for name, value in fields.items()}
        values["updated_at"] = repr(time.time())
        self.redis.hset(self.keys.job(job_id), mapping=mapping(values))

    def record_error(self, job_id: str, message: str) -> None:
        self.update(job_id, last_error=message[:2000])

    def request_cancel(self, job_id: str) -> None:
        self.update(job_id, cancel_requested=True)

    def transition(self, job: Job, to: JobState, **fields: Any) -> bool:
        """Move ``job`` to ``to`` if its current state allows it; log one line when it moves.

        Returns False when the job is already there or further on (a task ran twice), which
        callers treat as "someone else did this".
        """
        sources = [state.value for state, targets in TRANSITIONS.items() if to in targets]
        now = time.time()
        values = {name: codec.encode_value(value) for name, value in fields.items()}
        values["updated_at"] = repr(now)
        previous = self._transition(
            keys=[self.keys.job(job.id)], args=_transition_args(to, sources, values)
        )
        if not previous:
            return False
        for name, value in fields.items():
            if hasattr(job, name):
                setattr(job, name, value)
        job.state = to
        job.updated_at = now
        if to.is_terminal:
            self.redis.zrem(self.keys.active, job.id)  # nothing left for the sweep to drive
        log_state_change(job, JobState(previous))
        return True

    # -- shards ------------------------------------------------------------------------------
    def plan_shards(self, job: Job, ranges: list[tuple[int, int]]) -> int:
        """Record the shard plan unless one exists; return the number of shards in force."""
        encoded = [codec.encode(Shard(i, start, end)) for i, (start, end) in enumerate(ranges)]
        args: list[str | int] = [len(encoded), len(encoded[0]) if encoded else 0]
        for fields in encoded:
            for name, value in fields.items():
                args += [name, value]
        count = int(self._plan(keys=[self.keys.job(job.id)], args=args))
        job.shard_count = count
        return count

    def load_shards(self, job: Job) -> list[Shard]:
        pipe = self.redis.pipeline(transaction=False)
        for index in range(job.shard_count):
            pipe.hgetall(self.keys.shard(job.id, index))
        return [codec.decode(Shard, strings(data)) for data in pipe.execute() if data]

    def load_pairs(self, pairs: list[tuple[str, int]]) -> list[tuple[Job, Shard] | None]:
        """Each ``(job id, shard index)``'s job and shard in one round trip (``None`` where
        either is gone): a poll tick reads hundreds at once."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id, index in pairs:
            pipe.hgetall(self.keys.job(job_id))
            pipe.hgetall(self.keys.shard(job_id, index))
        raw = pipe.execute()
        found: list[tuple[Job, Shard] | None] = []
        for job_data, shard_data in zip(raw[::2], raw[1::2], strict=True):
            if not job_data or not shard_data:
                found.append(None)
            else:
                job = codec.decode(Job, strings(job_data))
                found.append((job, codec.decode(Shard, strings(shard_data))))
        return found

    def load_shard(self, job_id: str, index: int) -> Shard:
        data = strings(self.redis.hgetall(self.keys.shard(job_id, index)))
        if not data:
            raise JobNotFoundError(f"job {job_id!r} has no shard {index}")
        return codec.decode(Shard, data)

    def transition_shard(
        self,
        job_id: str,
        index: int,
        to: ShardState,
        *,
        from_states: Iterable[ShardState],
        **fields: Any,
    ) -> bool:
        """Compare-and-set on a shard's state, as ``transition`` does for the job."""
        sources = [state.value for state in from_states]
        values = {name: codec.encode_value(value) for name, value in fields.items()}
        args = _transition_args(to, sources, values)
        return bool(self._transition(keys=[self.keys.shard(job_id, index)], args=args))

    def update_shard(
        self, job_id: str, index: int, pipe: Pipeline | None = None, **fields: Any
    ) -> None:
        values = {name: codec.encode_value(value) for name, value in fields.items()}
        target = pipe if pipe is not None else self.redis
        target.hset(self.keys.shard(job_id, index), mapping=mapping(values))

    # -- listing, lifetime and cleanup ------------------------------------------------------
    def list_ids(self, limit: int = 20, offset: int = 0) -> list[str]:
        """Job ids, newest first."""
        return [str(i) for i in self.redis.zrevrange(self.keys.jobs, offset, offset + limit - 1)]

    def forget(self, job_id: str) -> None:
        """Drop an expired job's id from the index (its record is gone already)."""
        self.redis.zrem(self.keys.jobs, job_id)

    def expire(self, job: Job, ttl: int) -> None:
        """The record, its shards and claims, its requests and results live ``ttl`` seconds
        more (the requests too: a retry of the failed ones reads them again)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.expire(self.keys.requests(job.id), ttl)
        pipe.expire(self.keys.retry_ids(job.id), ttl)
        pipe.expire(self.keys.job(job.id), ttl)
        pipe.expire(self.keys.results(job.id), ttl)
        pipe.expire(self.keys.unmatched(job.id), ttl)
        for index in range(job.shard_count):
            pipe.expire(self.keys.shard(job.id, index), ttl)
            pipe.expire(self.keys.submit_claim(job.id, index), ttl)
        pipe.execute()

    def delete(self, job_id: str) -> int:
        """Delete every key of one job; return how many were removed."""
        doomed = list(self.redis.scan_iter(match=self.keys.job_pattern(job_id), count=500))
        removed = int(self.redis.delete(*doomed)) if doomed else 0
        self.redis.zrem(self.keys.jobs, job_id)
        self.redis.zrem(self.keys.active, job_id)
        return removed

    # -- the sweep's index of jobs not yet terminal ----------------------------------------
    def stale_active(self, before: float, limit: int) -> list[tuple[str, float]]:
        """Up to ``limit`` non-terminal jobs the sweep last drove before ``before``, oldest
        first, each with that stamp (what ``mark_driven`` compares against)."""
        rows: list[Any] = self.redis.zrangebyscore(
            self.keys.active, "-inf", before, start=0, num=limit, withscores=True
        )
        return [(str(row[0]), float(row[1])) for row in rows]

    def mark_driven(self, job_id: str, seen: float, now: float) -> bool:
        """Stamp ``job_id`` as driven at ``now`` if its stamp is still ``seen``: of two sweeps
        (or two beats) reading the same stamp, exactly one drives the job."""
        return bool(self._cas_score(keys=[self.keys.active], args=[job_id, repr(seen), now]))

    def heartbeat(self, job_id: str) -> None:
        """Stamp a job as driven now (a task retrying or waiting on it holds the job), unless
        it has left the index (terminal or gone)."""
        self.redis.zadd(self.keys.active, {job_id: time.time()}, xx=True)

    def deactivate(self, job_id: str) -> None:
        """Drop a job from the sweep's index (it is terminal, or its record is gone)."""
        self.redis.zrem(self.keys.active, job_id)

    # -- which job owns a provider batch -----------------------------------------------------
    def record_owner(self, provider: str, batch_id: str, job_id: str, shard: int) -> None:
        self.redis.hset(self.keys.batch_owners(provider), batch_id, f"{job_id}:{shard}")

    def owners(self, provider: str, batch_ids: list[str]) -> dict[str, tuple[str, int]]:
        """The ``(job id, shard)`` recorded for each of ``batch_ids`` that has one."""
        if not batch_ids:
            return {}
        values = self.redis.hmget(self.keys.batch_owners(provider), batch_ids)
        found: dict[str, tuple[str, int]] = {}
        for batch_id, value in zip(batch_ids, values, strict=True):
            if value is not None:
                job_id, _, index = str(value).rpartition(":")
                found[batch_id] = (job_id, int(index))
        return found

    def existing(self, job_ids: list[str]) -> set[str]:
        """Which of ``job_ids`` still have a record."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.exists(self.keys.job(job_id))
        return {job_id for job_id, n in zip(job_ids, pipe.execute(), strict=True) if n}


def _transition_args(
    to: ShardState | JobState, sources: list[str], values: dict[str, str]
) -> list[str]:
    args: list[str] = [to.value, str(len(sources)), *sources]
    for name, value in values.items():
        args += [name, value]
    return args
