"""Stored results in Redis: one hash per job, keyed by custom id, written in pipelined chunks.

Keying by custom id is what makes a redelivered completion harmless: writing a result twice
leaves one entry. Results are kept as the JSON of ``BatchSuccess/BatchError.to_dict``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from batchline.workers.jobs import Job, Shard, shard_custom_ids
from batchline.workers.keys import Keys
from batchline.workers.stores.base import Pipeline, RedisStore

#: Result lines kept for inspection when their custom id matches no request of the job.
UNMATCHED_KEEP = 100


class ResultWriter:
    """Writes one job's results, ``chunk_size`` per round trip, refreshing their TTL each."""

    def __init__(self, pipe: Pipeline, keys: Keys, job_id: str, ttl: int, chunk_size: int):
        self._pipe = pipe
        self._keys = keys
        self._job_id = job_id
        self._ttl = ttl
        self._chunk_size = chunk_size
        self._pending = 0

    def put(self, data: dict[str, Any]) -> None:
        """Store one result under its custom id."""
        self._pipe.hset(self._keys.results(self._job_id), data["custom_id"], _dumps(data))
        self._pending += 1
        if self._pending >= self._chunk_size:
            self.flush()

    def put_unmatched(self, data: dict[str, Any]) -> None:
        """Keep a result line whose custom id belongs to no request (the last few only)."""
        key = self._keys.unmatched(self._job_id)
        self._pipe.rpush(key, _dumps(data))
        self._pipe.ltrim(key, 0, UNMATCHED_KEEP - 1)

    def flush(self) -> None:
        """Send the chunk written so far in a single round trip (and keep the TTL fresh)."""
        self._pipe.expire(self._keys.results(self._job_id), self._ttl)
        self._pipe.execute()
        self._pending = 0


class ResultStore(RedisStore):
    """Reads and writes the stored results of jobs."""

    def writer(self, job_id: str, *, ttl: int, chunk_size: int) -> ResultWriter:
        return ResultWriter(
            self.redis.pipeline(transaction=False), self.keys, job_id, ttl, chunk_size
        )

    def count(self, job_id: str) -> int:
        """How many results of the job are stored."""
        return int(self.redis.hlen(self.keys.results(job_id)))

    def get_many(self, job_id: str, custom_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """The stored results of ``custom_ids``, in order (``None`` where there is none)."""
        raw = self.redis.hmget(self.keys.results(job_id), list(custom_ids))
        return [orjson.loads(item) if item else None for item in raw]

    def iter_stored(self, job: Job, shards: list[Shard], chunk: int) -> Iterator[dict[str, Any]]:
        """Stored results in request order, read in chunks (a ``missing`` marker where one
        is gone)."""
        for shard in shards:
            ids = list(shard_custom_ids(job.id, shard))
            for first in range(0, len(ids), chunk):
                part = ids[first : first + chunk]
                for custom_id, data in zip(part, self.get_many(job.id, part), strict=True):
                    yield data if data is not None else {"custom_id": custom_id, "missing": True}

    def cached_usage(self, job_id: str) -> dict[str, int] | None:
        """The job's token totals as summed once before (``None`` when not yet summed)."""
        cached = self.redis.get(self.keys.usage(job_id))
        return dict(orjson.loads(cached)) if cached else None

    def cache_usage(self, job_id: str, totals: dict[str, int], *, ttl: int) -> None:
        """Keep the job's token totals beside its results, with their TTL."""
        self.redis.set(self.keys.usage(job_id), orjson.dumps(totals), ex=ttl)


def _dumps(data: dict[str, Any]) -> str:
    return orjson.dumps(data, default=str).decode()
