"""Batch files on disk: where an app keeps requests and results, and the order it reads them in.

Inputs of up to 200 MB and outputs of 50,000 lines live on disk, so they cost page cache, not
the server's memory. A batch keeps only where each request's line is and the order results
come back in, and reads the lines back one at a time.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson


class Spool:
    """A private temporary folder for the files an app holds and serves.

    The folder is removed when the app is garbage-collected or the interpreter exits.
    """

    def __init__(self, name: str) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix=f"batchline-sandbox-{name}-")
        self.root = Path(self._folder.name)

    def path(self, name: str) -> Path:
        return self.root / name


def output_order(custom_ids: Sequence[str], seed: int) -> list[int]:
    """Positions of ``custom_ids`` in the order a provider writes results: not input order.

    Sorting by a seeded hash of the id keeps the order the same for the same input every run,
    while ids that are next to each other in the input land far apart.
    """

    def rank(index: int) -> bytes:
        key = f"order:{seed}:{custom_ids[index]}".encode()
        return hashlib.blake2b(key, digest_size=8).digest()

    return sorted(range(len(custom_ids)), key=rank)


def read_lines(path: Path, spans: Sequence[int], order: Iterable[int]) -> Iterator[bytes]:
    """The lines of ``path`` at ``spans`` (start, end pairs), in ``order``, read one at a time.

    A batch keeps its requests' positions, not the requests, and reads them back shuffled.
    """
    with path.open("rb", buffering=0) as stream:
        fd = stream.fileno()
        for index in order:
            start, end = spans[2 * index], spans[2 * index + 1]
            yield os.pread(fd, end - start, start)


def json_object(line: bytes) -> dict[str, Any] | None:
    """A JSONL line as the object it holds, or None when it is not JSON or not an object."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
