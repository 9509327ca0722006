"""The large enqueue: ``enqueue_batch`` of 1,000,000 requests from a generator, in a fresh
process, with its time, the process's peak RSS, and what the requests cost in Redis.

A web handler that enqueues a big job streams its conversations from somewhere (a file, a
query); the generator here stands in for that, so the figure is what ``enqueue_batch`` itself
holds, not the caller's list. Redis bytes are read with ``MEMORY USAGE`` on the request list
(``SAMPLES 0``: every element counted), so they are the server's own accounting.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from benchmarks.isolation import Measurement, run_isolated, timed
from benchmarks.pipeline_figures import LargeEnqueueResult

#: A private Redis DB (the service benchmark's own).
REDIS_URL = "redis://127.0.0.1:6379/13"


@dataclass(frozen=True, slots=True)
class LargeEnqueue:
    """One large enqueue: the measurement and the Redis bytes its requests take."""

    measurement: Measurement
    redis_bytes: int

    @property
    def bytes_per_request(self) -> float:
        return self.redis_bytes / self.measurement.items


def _enqueue_in_child(requests: int, prefix: str) -> Measurement:
    from batchline.workers.appbase import new_app
    from batchline.workers.settings import WorkerSettings
    from benchmarks.inputs import Contact, conversations

    app = new_app(WorkerSettings(redis_url=REDIS_URL, key_prefix=prefix, queue=f"{prefix}.q"))
    from batchline.workers import enqueue_batch

    # One tiny job first: the connection, the schema check and the imports are not the
    # large job's cost.
    enqueue_batch("openai/gpt-4.1-mini", Contact, conversations(1), app=app)

    def call() -> int:
        handle = enqueue_batch("openai/gpt-4.1-mini", Contact, conversations(requests), app=app)
        return handle.job().request_count

    return timed(call)


def measure_large_enqueue_figures(requests: int, results: int) -> LargeEnqueueResult:
    """The pipeline part's row: the large enqueue and the stored-result size."""
    large = measure_large_enqueue(requests)
    m = large.measurement
    return LargeEnqueueResult(
        m.items,
        m.seconds,
        m.peak_rss,
        m.baseline_rss,
        large.redis_bytes,
        measure_result_bytes(results),
    )


def measure_large_enqueue(requests: int) -> LargeEnqueue:
    """Enqueue ``requests`` requests in a fresh process; delete everything afterwards."""
    import redis

    prefix = f"blbench-{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        measurement = run_isolated(_enqueue_in_child, requests, prefix)
        redis_bytes = 0
        for key in client.scan_iter(match=f"{prefix}:job:*:requests", count=1000):
            if client.llen(key) == requests:
                redis_bytes = int(client.memory_usage(key, samples=0) or 0)
        return LargeEnqueue(measurement, redis_bytes)
    finally:
        doomed = list(client.scan_iter(match=f"{prefix}*", count=2000))
        for start in range(0, len(doomed), 1000):
            client.delete(*doomed[start : start + 1000])
        client.close()


def measure_result_bytes(results: int) -> float:
    """Redis bytes per stored result: ``results`` successes written as completion writes
    them (``ResultStore.writer``), with the custom ids and token usage a real job has."""
    import random

    import redis as redis_module

    from batchline.batching.providers.base import token_usage
    from batchline.workers.keys import Keys
    from batchline.workers.stores.results import ResultStore
    from benchmarks.inputs import fake_contact

    prefix = f"blbench-{uuid.uuid4().hex[:10]}"
    client = redis_module.Redis.from_url(REDIS_URL, decode_responses=True)
    keys = Keys(prefix)
    job_id = uuid.uuid4().hex[:16]
    rng = random.Random(7)
    try:
        writer = ResultStore(client, keys).writer(job_id, ttl=3600, chunk_size=1000)
        for index in range(results):
            writer.put(
                {
                    "custom_id": f"{job_id}-{index // 50_000}-{index}",
                    "success": True,
                    "result": fake_contact(rng),
                    "usage": token_usage(rng.randrange(150, 250), rng.randrange(30, 80)),
                }
            )
        writer.flush()
        return int(client.memory_usage(keys.results(job_id), samples=0) or 0) / results
    finally:
        client.delete(keys.results(job_id))
        client.close()


if __name__ == "__main__":
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    result = measure_large_enqueue(count)
    m = result.measurement
    print(
        f"{m.items:,} requests: {m.seconds:.2f} s, peak RSS {m.peak_rss / 2**20:.0f} MB "
        f"(baseline {m.baseline_rss / 2**20:.0f} MB), Redis {result.redis_bytes / 2**20:.0f} MB "
        f"= {result.bytes_per_request:.0f} B/request"
    )
    print(f"stored result: {measure_result_bytes(100_000):.0f} B/result")
