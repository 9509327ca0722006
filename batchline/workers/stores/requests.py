"""A job's requests in Redis, between ``enqueue_batch`` and submission (and a retry's ids).

One compact JSON array of messages per request, in a list, pushed and read in chunks of
``CHUNK`` so that a 50,000-request job is a few dozen round trips, never one huge one.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

from batchline.workers.stores.base import Pipeline, RedisStore

#: Requests per RPUSH / LRANGE round trip.
CHUNK = 1000


class RequestStore(RedisStore):
    """The requests of jobs that keep them in Redis (not in a ``requests_path`` file)."""

    def push(self, pipe: Pipeline, job_id: str, encoded: Iterable[bytes]) -> int:
        """Queue RPUSH commands for every request on ``pipe``; return how many there are."""
        count = 0
        key = self.keys.requests(job_id)
        iterator = iter(encoded)
        while chunk := list(itertools.islice(iterator, CHUNK)):
            pipe.rpush(key, *chunk)
            count += len(chunk)
        return count

    def read(self, job_id: str, start: int, end: int) -> Iterator[str]:
        """The encoded requests ``start`` to ``end`` (exclusive), a chunk at a time."""
        key = self.keys.requests(job_id)
        for first in range(start, end, CHUNK):
            last = min(first + CHUNK, end) - 1
            for item in self.redis.lrange(key, first, last):
                yield str(item)

    def push_retry_ids(self, pipe: Pipeline, job_id: str, custom_ids: Sequence[str]) -> None:
        """Keep, beside a retry job, the original custom id of each of its requests."""
        if custom_ids:
            pipe.rpush(self.keys.retry_ids(job_id), *custom_ids)

    def retry_ids(self, job_id: str) -> list[str]:
        """A retry job's original custom ids, in request order."""
        return [str(item) for item in self.redis.lrange(self.keys.retry_ids(job_id), 0, -1)]
