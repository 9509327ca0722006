"""Files written whole or not at all.

Request files, retry files and results files are read by other processes (a submit task, a
user's script) that must never see half of one: each is written to a partial file beside the
target and renamed over it only once complete. The partial name carries the process id, so two
workers writing the same target at once do not share one partial file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a partial file for writing; on a clean exit it replaces ``path``, on an error it is
    removed and ``path`` is left as it was."""
    target = Path(path)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as sink:
            yield sink
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
