"""Where a job's requests wait between ``enqueue_batch`` and the submit task.

Requests never travel in task arguments: a broker message is copied, logged and shown in
Flower, and a 50,000-request job would make every one of them huge. They go to a Redis list
(one compact JSON array of messages per request, pushed in pipelined chunks) or, for jobs too
large to hold in Redis, to a JSONL file on storage the workers share.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence

import orjson
import redis

from batchline.batching.providers.base import Message
from batchline.batching.requests import check_messages
from batchline.files import atomic_file
from batchline.workers.keys import Keys

#: Requests per RPUSH / LRANGE round trip.
CHUNK = 1000


def encode_requests(messages_list: Iterable[Sequence[Message]]) -> Iterator[bytes]:
    """Validate and encode each conversation (a clear error names the bad index)."""
    for index, messages in enumerate(messages_list):
        yield orjson.dumps(list(check_messages(messages, index)))


def push_requests(
    pipe: redis.client.Pipeline, keys: Keys, job_id: str, encoded: Iterable[bytes]
) -> int:
    """Queue RPUSH commands for every request on ``pipe``; return how many there are."""
    count = 0
    key = keys.requests(job_id)
    iterator = iter(encoded)
    while chunk := list(itertools.islice(iterator, CHUNK)):
        pipe.rpush(key, *chunk)
        count += len(chunk)
    return count


def write_requests_file(path: str | os.PathLike[str], encoded: Iterable[bytes]) -> int:
    """Write requests as JSONL to ``path`` (atomically: readers never see half a file)."""
    count = 0
    with atomic_file(path) as sink:
        for line in encoded:
            sink.write(line + b"\n")
            count += 1
    return count


def read_requests(
    client: redis.Redis, keys: Keys, job_id: str, requests_path: str, start: int, end: int
) -> Iterator[list[Message]]:
    """Stream requests ``start`` to ``end`` (exclusive) from wherever the job keeps them."""
    if requests_path:
        with open(requests_path, "rb") as source:
            for line in itertools.islice(source, start, end):
                yield orjson.loads(line)
        return
    key = keys.requests(job_id)
    for first in range(start, end, CHUNK):
        last = min(first + CHUNK, end) - 1
        for item in client.lrange(key, first, last):
            yield orjson.loads(item)
