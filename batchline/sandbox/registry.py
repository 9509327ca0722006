"""The records an app holds (files, batches, jobs), by id, in the order they were created."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from starlette.responses import Response

from batchline.sandbox.wire import Refused

_Record = TypeVar("_Record")


class Registry(Generic[_Record]):
    """Records by id, safe to share between the event loop and the thread pool.

    Routes look records up on the event loop while batches are created and settled in the
    thread pool, so every access takes ``lock``. ``missing(id)`` is the provider's 404 for
    ``find``.
    """

    def __init__(
        self, missing: Callable[[str], Response], lock: threading.RLock | None = None
    ) -> None:
        self.missing = missing
        #: Reentrant, so a caller can hold it around several calls (check an id, then add it).
        self.lock = lock or threading.RLock()
        self._records: dict[str, _Record] = {}

    def __contains__(self, record_id: str) -> bool:
        with self.lock:
            return record_id in self._records

    def add(self, record_id: str, record: _Record) -> None:
        with self.lock:
            self._records[record_id] = record

    def get(self, record_id: str) -> _Record | None:
        with self.lock:
            return self._records.get(record_id)

    def find(self, record_id: str) -> _Record:
        """The record, or ``Refused`` with the provider's 404."""
        record = self.get(record_id)
        if record is None:
            raise Refused(self.missing(record_id))
        return record

    def pop(self, record_id: str) -> _Record | None:
        with self.lock:
            return self._records.pop(record_id, None)

    def newest_first(self) -> list[_Record]:
        with self.lock:
            return list(reversed(self._records.values()))
