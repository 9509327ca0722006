"""A job's requests in Redis, between ``enqueue_batch`` and submission (and a retry's ids).

One compact JSON array of messages per request, in a list, pushed and read in chunks of
``CHUNK`` so that a 50,000-request job is a few dozen round trips, never one huge one.

Pushing streams: each chunk is sent as soon as it is full, so the enqueuing process holds one
chunk at a time whatever the job's size (a 1,000,000-request job once held every command in
one pipeline: 4.1 GB in a web handler). Until the job record exists the list carries a short
TTL (``UNCLAIMED_TTL``), so a process that dies half way leaves nothing behind for long;
``adopt`` clears that TTL in the same round trip that creates the record.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

from batchline.workers.stores.base import Pipeline, RedisStore

#: Requests per RPUSH / LRANGE round trip.
CHUNK = 1000
#: Seconds a job's request list lives while it is still being pushed (refreshed per chunk).
UNCLAIMED_TTL = 3600


class RequestStore(RedisStore):
    """The requests of jobs that keep them in Redis (not in a ``requests_path`` file)."""

    def push(self, job_id: str, encoded: Iterable[bytes]) -> int:
        """RPUSH every request, one chunk per round trip as it comes; return how many.

        On any error (a bad request half way, a lost connection) the partial list is deleted
        before the error propagates.
        """
        count = 0
        key = self.keys.requests(job_id)
        iterator = iter(encoded)
        try:
            while chunk := list(itertools.islice(iterator, CHUNK)):
                pipe = self.redis.pipeline(transaction=False)
                pipe.rpush(key, *chunk)
                pipe.expire(key, UNCLAIMED_TTL)
                pipe.execute()
                count += len(chunk)
        except BaseException:
            self.discard(job_id)
            raise
        return count

    def adopt(self, pipe: Pipeline, job_id: str) -> None:
        """The job record is written on ``pipe``: its requests live as long as it does."""
        pipe.persist(self.keys.requests(job_id))

    def discard(self, job_id: str) -> None:
        """Delete requests pushed for a job that will never exist."""
        self.redis.delete(self.keys.requests(job_id), self.keys.retry_ids(job_id))

    def read(self, job_id: str, start: int, end: int) -> Iterator[str]:
        """The encoded requests ``start`` to ``end`` (exclusive), a chunk at a time."""
        key = self.keys.requests(job_id)
        for first in range(start, end, CHUNK):
            last = min(first + CHUNK, end) - 1
            for item in self.redis.lrange(key, first, last):
                yield str(item)

    def push_retry_ids(self, pipe: Pipeline, job_id: str, custom_ids: Sequence[str]) -> None:
        """Keep, beside a retry job, the original custom id of each of its requests."""
        key = self.keys.retry_ids(job_id)
        for first in range(0, len(custom_ids), CHUNK):
            pipe.rpush(key, *custom_ids[first : first + CHUNK])

    def retry_ids(self, job_id: str) -> list[str]:
        """A retry job's original custom ids, in request order."""
        return [str(item) for item in self.redis.lrange(self.keys.retry_ids(job_id), 0, -1)]
