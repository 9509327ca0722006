"""What the fault suite's jobs ask for and call back: module level, so workers import them."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel

from batchline.workers import JobHandle, on_batch_complete


class Person(BaseModel):
    name: str
    age: int


def calls_key(job: JobHandle[Any]) -> str:
    return f"{job.app.runtime.keys.prefix}:faults:callback-pids:{job.id}"


@on_batch_complete
def record_call(job: JobHandle[Any]) -> None:
    """Appends the calling worker's PID: a second entry is a second call, and the PID says
    whether the first call's worker was killed (the one documented way to get two)."""
    job.app.runtime.redis.rpush(calls_key(job), os.getpid())
