"""Where a job's requests wait between ``enqueue_batch`` and the submit task.

Requests never travel in task arguments: a broker message is copied, logged and shown in
Flower, and a 50,000-request job would make every one of them huge. They go to a Redis list
(``stores.requests``) or, for jobs too large to hold in Redis, to a JSONL file on storage the
workers share.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence

import orjson

from batchline.batching.providers.base import Message
from batchline.batching.requests import check_messages
from batchline.files import atomic_file
from batchline.workers.stores.requests import RequestStore


def encode_requests(messages_list: Iterable[Sequence[Message]]) -> Iterator[bytes]:
    """Validate and encode each conversation (a clear error names the bad index)."""
    for index, messages in enumerate(messages_list):
        yield orjson.dumps(list(check_messages(messages, index)))


def write_requests_file(path: str | os.PathLike[str], encoded: Iterable[bytes]) -> int:
    """Write requests as JSONL to ``path`` (atomically: readers never see half a file)."""
    count = 0
    with atomic_file(path) as sink:
        for line in encoded:
            sink.write(line + b"\n")
            count += 1
    return count


def read_requests(
    store: RequestStore, job_id: str, requests_path: str, start: int, end: int
) -> Iterator[list[Message]]:
    """Stream requests ``start`` to ``end`` (exclusive) from wherever the job keeps them."""
    if requests_path:
        with open(requests_path, "rb") as source:
            for line in itertools.islice(source, start, end):
                yield orjson.loads(line)
        return
    for item in store.read(job_id, start, end):
        yield orjson.loads(item)
