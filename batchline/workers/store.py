"""Persistence of job records in Redis: every write that must not race is one Lua call.

The job's state moves only by compare-and-set (``JobStore.transition``), so a task delivered
twice finds the job already moved and does nothing twice; shards use the same script.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import redis

from batchline.workers.jobs import (
    TRANSITIONS,
    Job,
    JobNotFoundError,
    JobState,
    Shard,
    ShardState,
    log_state_change,
)
from batchline.workers.keys import Keys

# Compare-and-set: move the job only from a state listed in ARGV (after the 2 fixed ones).
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
_PLAN = """
local count = tonumber(redis.call('HGET', KEYS[1], 'shard_count') or '0')
if count > 0 then return count end
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local key = KEYS[1] .. ':shard:' .. i
  redis.call('HSET', key, 'index', i, 'start', ARGV[2 + 2 * i], 'end', ARGV[3 + 2 * i],
             'state', 'pending', 'counts', '{}', 'poll_failures', '0')
end
redis.call('HSET', KEYS[1], 'shard_count', n)
return n
"""


_CAS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_CAD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class JobStore:
    """Reads and writes job records. Thread-safe (a redis-py client is)."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys
        self._transition = client.register_script(_TRANSITION)
        self._plan = client.register_script(_PLAN)
        self._cas = client.register_script(_CAS)
        self._cad = client.register_script(_CAD)

    # -- the record --------------------------------------------------------------------------
    def create(self, job: Job, pipe: redis.client.Pipeline | None = None) -> None:
        target = pipe if pipe is not None else self.redis
        target.hset(self.keys.job(job.id), mapping=_mapping(job.to_redis()))
        target.zadd(self.keys.jobs, {job.id: job.created_at})

    def load(self, job_id: str) -> Job:
        data = _strings(self.redis.hgetall(self.keys.job(job_id)))
        if not data:
            raise JobNotFoundError(f"no job {job_id!r} under key prefix {self.keys.prefix!r}")
        return Job.from_redis(data)

    def exists(self, job_id: str) -> bool:
        return bool(self.redis.exists(self.keys.job(job_id)))

    def update(self, job_id: str, **fields: Any) -> None:
        values = {name: _encode(value) for name, value in fields.items()}
        values["updated_at"] = repr(time.time())
        self.redis.hset(self.keys.job(job_id), mapping=_mapping(values))

    def record_error(self, job_id: str, message: str) -> None:
        self.update(job_id, last_error=message[:2000])

    def request_cancel(self, job_id: str) -> None:
        self.update(job_id, cancel_requested="1")

    def transition(self, job: Job, to: JobState, **fields: Any) -> bool:
        """Move ``job`` to ``to`` if its current state allows it; log one line when it moves.

        Returns False when the job is already there or further on (a task ran twice), which
        callers treat as "someone else did this".
        """
        sources = [state.value for state, targets in TRANSITIONS.items() if to in targets]
        now = time.time()
        values: dict[str, str] = {name: _encode(value) for name, value in fields.items()}
        values["updated_at"] = repr(now)
        args: list[str] = [to.value, str(len(sources)), *sources]
        for name, value in values.items():
            args += [name, value]
        previous = self._transition(keys=[self.keys.job(job.id)], args=args)
        if not previous:
            return False
        for name, value in fields.items():
            if hasattr(job, name):
                setattr(job, name, value)
        job.state = to
        job.updated_at = now
        log_state_change(job, previous)
        return True

    # -- shards ------------------------------------------------------------------------------
    def plan_shards(self, job: Job, ranges: list[tuple[int, int]]) -> int:
        """Record the shard plan unless one exists; return the number of shards in force."""
        args: list[str | int] = [len(ranges)]
        for start, end in ranges:
            args += [start, end]
        count = int(self._plan(keys=[self.keys.job(job.id)], args=args))
        job.shard_count = count
        return count

    def load_shards(self, job: Job) -> list[Shard]:
        pipe = self.redis.pipeline(transaction=False)
        for index in range(job.shard_count):
            pipe.hgetall(self.keys.shard(job.id, index))
        return [Shard.from_redis(_strings(data)) for data in pipe.execute() if data]

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
                job = Job.from_redis(_strings(job_data))
                found.append((job, Shard.from_redis(_strings(shard_data))))
        return found

    def load_shard(self, job_id: str, index: int) -> Shard:
        data = _strings(self.redis.hgetall(self.keys.shard(job_id, index)))
        if not data:
            raise JobNotFoundError(f"job {job_id!r} has no shard {index}")
        return Shard.from_redis(data)

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
        args: list[str] = [to.value, str(len(sources)), *sources]
        for name, value in fields.items():
            args += [name, _encode(value)]
        return bool(self._transition(keys=[self.keys.shard(job_id, index)], args=args))

    def compare_and_set(self, key: str, expected: str, value: str) -> bool:
        """Set ``key`` to ``value`` only if it still holds ``expected``."""
        return bool(self._cas(keys=[key], args=[expected, value]))

    def compare_and_delete(self, key: str, expected: str) -> bool:
        """Delete ``key`` only if it still holds ``expected`` (release one's own claim/lock)."""
        return bool(self._cad(keys=[key], args=[expected]))

    def update_shard(
        self,
        job_id: str,
        index: int,
        pipe: redis.client.Pipeline | None = None,
        **fields: Any,
    ) -> None:
        values = {name: _encode(value) for name, value in fields.items()}
        target = pipe if pipe is not None else self.redis
        target.hset(self.keys.shard(job_id, index), mapping=_mapping(values))

    # -- listing and cleanup ----------------------------------------------------------------
    def list_ids(self, limit: int = 20, offset: int = 0) -> list[str]:
        """Job ids, newest first."""
        return [str(i) for i in self.redis.zrevrange(self.keys.jobs, offset, offset + limit - 1)]

    def delete(self, job_id: str) -> int:
        """Delete every key of one job; return how many were removed."""
        doomed = list(self.redis.scan_iter(match=self.keys.job_pattern(job_id), count=500))
        removed = int(self.redis.delete(*doomed)) if doomed else 0
        self.redis.zrem(self.keys.jobs, job_id)
        return removed


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, int | float):
        return repr(value)
    return orjson.dumps(value).decode()


def _strings(data: Mapping[Any, Any]) -> dict[str, str]:
    """A hash as ``str -> str`` (the client decodes responses; this tells the type checker)."""
    return {str(key): str(value) for key, value in data.items()}


def _mapping(values: dict[str, str]) -> Mapping[Any, Any]:
    """redis-py's stubs want a mapping over every key type they accept; ours are all str."""
    return values
