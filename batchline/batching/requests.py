"""Request files: written a line at a time, so memory does not grow with the number of requests."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from batchline.batching.providers.base import LineEncoder, Message
from batchline.errors import InvalidRequestError

#: Anything ``submit_batch`` accepts: a path or a readable binary buffer.
RequestSource = str | os.PathLike[str] | IO[bytes]

#: Lines are written in blocks of this many bytes; larger blocks barely help.
_WRITE_BLOCK = 1 << 20


def default_custom_ids(prefix: str = "request-") -> Iterator[str]:
    index = 0
    while True:
        yield f"{prefix}{index}"
        index += 1


def check_messages(messages: Any, index: int) -> Sequence[Message]:
    if not isinstance(messages, list | tuple) or not messages:
        raise InvalidRequestError(
            f"messages_list[{index}] must be a non-empty list of messages "
            f"like {{'role': 'user', 'content': '...'}}, got {type(messages).__name__}"
        )
    return messages


def write_requests(
    sink: IO[bytes],
    messages_list: Iterable[Sequence[Message]],
    encode: LineEncoder,
    custom_ids: Iterable[str],
) -> int:
    """Encode every conversation into ``sink``; return the number of requests written."""
    block: list[bytes] = []
    size = 0
    count = 0
    ids = iter(custom_ids)
    for index, messages in enumerate(messages_list):
        try:
            custom_id = next(ids)
        except StopIteration:
            raise InvalidRequestError(
                f"custom_ids ran out at request {index}: give one id per conversation"
            ) from None
        line = encode(custom_id, check_messages(messages, index))
        block.append(line)
        size += len(line) + 1
        count += 1
        if size >= _WRITE_BLOCK:
            sink.write(b"\n".join(block) + b"\n")
            block.clear()
            size = 0
    if block:
        sink.write(b"\n".join(block) + b"\n")
    if count == 0:
        raise InvalidRequestError("messages_list is empty: a batch needs at least one request")
    return count


@dataclass(slots=True, frozen=True)
class RequestFileStats:
    requests: int
    bytes: int


def measure(source: RequestSource) -> RequestFileStats:
    """Count requests and bytes of a request file without loading it (for limit checks)."""
    with open_source(source) as handle:
        requests = 0
        size = 0
        for line in handle:
            size += len(line)
            if line.strip():
                requests += 1
    return RequestFileStats(requests=requests, bytes=size)


class open_source:
    """Open a path, or rewind a buffer, for reading; closes only what it opened."""

    def __init__(self, source: RequestSource) -> None:
        self.source = source
        self._owned: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        if isinstance(self.source, str | os.PathLike):
            path = Path(self.source)
            if not path.is_file():
                raise InvalidRequestError(f"request file not found: {path}")
            self._owned = open(path, "rb")
            return self._owned
        if isinstance(self.source, io.TextIOBase):
            raise InvalidRequestError("open the request file in binary mode ('rb')")
        self.source.seek(0)
        return self.source

    def __exit__(self, *exc_info: object) -> None:
        if self._owned is not None:
            self._owned.close()
        else:
            self.source.seek(0)  # type: ignore[union-attr]


def select_requests(
    source: RequestSource,
    sink: IO[bytes],
    custom_ids: set[str],
    custom_id_of: Callable[[bytes], str],
) -> set[str]:
    """Copy the request lines whose custom id is in ``custom_ids`` to ``sink``, byte for byte;
    return the ids found. Streams: one line in memory at a time."""
    found: set[str] = set()
    with open_source(source) as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                custom_id = custom_id_of(line)
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidRequestError(
                    f"the request file has a line that is not a request: {exc}"
                ) from None
            if custom_id in custom_ids and custom_id not in found:
                found.add(custom_id)
                sink.write(line if line.endswith(b"\n") else line + b"\n")
    return found
