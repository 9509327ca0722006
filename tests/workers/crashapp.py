"""A worker app that freezes at a chosen point so that a test can SIGKILL it there.

``BATCHLINE_TEST_CRASH_POINT`` picks the point (``BATCHLINE_TEST_PROVIDER`` names the provider
whose SDK to import up front):

- ``before_submit``: the claim is taken, the provider has not been called;
- ``after_submit``: the provider created the batch, batchline has not recorded its id;
- ``mid_results``: the first chunk of results is in Redis, the rest is not.

On reaching it the worker writes ``{prefix}:test:crash-point`` and sleeps until killed.
"""

from __future__ import annotations

import os
import time
from typing import Any

from batchline.batching.processor import BatchProcessor
from batchline.batching.providers import provider_class
from batchline.workers.app import create_app
from batchline.workers.settings import WorkerSettings
from batchline.workers.stores.results import ResultWriter

POINT = os.environ["BATCHLINE_TEST_CRASH_POINT"]

app = create_app(WorkerSettings())
# Import the SDK now rather than inside the first task, so that the task reaches its crash
# point well inside the visibility timeout.
provider_class(os.environ["BATCHLINE_TEST_PROVIDER"])


def _freeze(evidence: str) -> None:
    runtime = app.runtime
    runtime.redis.set(f"{runtime.keys.prefix}:test:crash-point", evidence)
    time.sleep(3600)


_submit = BatchProcessor.submit_batch
_flush = ResultWriter.flush


def _submit_then_freeze(self: BatchProcessor[Any], *args: Any, **kwargs: Any) -> str:
    if POINT == "before_submit":
        _freeze("not called")
    batch_id = _submit(self, *args, **kwargs)
    if POINT == "after_submit":
        _freeze(batch_id)
    return batch_id


def _flush_then_freeze(self: ResultWriter) -> None:
    _flush(self)
    if POINT == "mid_results":
        _freeze("first chunk stored")


BatchProcessor.submit_batch = _submit_then_freeze  # type: ignore[method-assign]
ResultWriter.flush = _flush_then_freeze  # type: ignore[method-assign]
