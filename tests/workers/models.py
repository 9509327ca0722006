"""Response models and callbacks the worker tests use; module level, so workers import them."""

from __future__ import annotations

import os
import time

import redis
from pydantic import BaseModel

from batchline.workers import JobHandle, on_batch_complete


class Person(BaseModel):
    name: str
    age: int


def _counter(job: JobHandle, name: str) -> str:
    return f"{job.app.runtime.keys.prefix}:test:{name}:{job.id}"


@on_batch_complete
def record_completion(job: JobHandle) -> None:
    """Counts calls and keeps what a callback sees: the summary and the typed results."""
    rt = job.app.runtime
    results = job.results()
    succeeded = sum(1 for r in results if r.success and isinstance(r.result, Person))
    pipe = rt.redis.pipeline()
    pipe.incr(_counter(job, "calls"))
    pipe.hset(
        _counter(job, "seen"),
        mapping={
            "state": job.summary().state,
            "results": len(results),
            "typed_successes": succeeded,
            "pid": os.getpid(),
        },
    )
    pipe.execute()


@on_batch_complete
def fail_twice(job: JobHandle) -> None:
    """Fails on its first two calls, then succeeds: a flaky downstream service."""
    calls = job.app.runtime.redis.incr(_counter(job, "flaky"))
    if calls <= 2:
        raise ConnectionError(f"downstream unavailable (call {calls})")


@on_batch_complete
def always_fail(job: JobHandle) -> None:
    job.app.runtime.redis.incr(_counter(job, "doomed"))
    raise RuntimeError("this callback never works")


def calls(client: redis.Redis, prefix: str, name: str, job_id: str) -> int:
    return int(client.get(f"{prefix}:test:{name}:{job_id}") or 0)


#: Seconds ``slow_completion`` takes: long enough to be running when a test restarts Redis.
SLOW_CALLBACK_SECONDS = 4.0


@on_batch_complete
def slow_completion(job: JobHandle) -> None:
    """Marks its start, works for a few seconds, then counts one finished call."""
    rt = job.app.runtime
    rt.redis.incr(_counter(job, "started"))
    time.sleep(SLOW_CALLBACK_SECONDS)
    rt.redis.incr(_counter(job, "calls"))
