"""The completion callback the pipeline benchmark registers; workers import it by path.

It only records when it ran: the benchmark measures batchline's path to the callback, not
what a callback does afterwards.
"""

from __future__ import annotations

import time
from typing import Any

from batchline.workers import JobHandle, on_batch_complete


def fired_key(prefix: str) -> str:
    """Hash of job id -> the Unix time its callback ran, under the benchmark's key prefix."""
    return f"{prefix}:bench:callback_fired"


@on_batch_complete
def record_callback_time(job: JobHandle[Any]) -> None:
    runtime = job.app.runtime
    runtime.redis.hset(fired_key(runtime.keys.prefix), job.id, repr(time.time()))
