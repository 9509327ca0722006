"""Storing a finished job's results: every request accounted for exactly once, then callbacks.

Results stream from the provider a line at a time (``BatchProcessor.iter_results`` with the
shard's expected custom ids, so unanswered requests come back as typed errors) and go to the
result store (``stores.results``), keyed by custom id, so a redelivered completion is harmless.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson

from batchline.batching.results import BatchError, ErrorType
from batchline.batching.status import RESULT_BEARING_STATUSES, BatchStatus
from batchline.errors import ResultsNotReadyError
from batchline.files import atomic_file
from batchline.workers import callbacks
from batchline.workers.jobs import (
    OUTCOME_STATES,
    RESULTS_READY_STATES,
    Job,
    JobState,
    Shard,
    ShardState,
    shard_custom_ids,
)
from batchline.workers.runtime import Runtime


def complete_job(rt: Runtime, job_id: str, *, give_up: str = "") -> JobState:
    """Store the results of every shard not stored yet, then start the callbacks.

    ``give_up`` (after the last retry) stores an error with that message for every request
    whose results could not be downloaded, so that the job still ends with all accounted for.
    """
    store = rt.store
    job = store.load(job_id)
    if job.state in RESULTS_READY_STATES:
        callbacks.dispatch(rt, job)  # a redelivery after the results were stored
        return job.state
    if job.state not in OUTCOME_STATES:
        return job.state  # not finished at the provider: nothing to store yet
    for shard in store.load_shards(job):
        if shard.state is ShardState.STORED:
            continue
        counts = store_shard_results(rt, job, shard, give_up=give_up)
        store.transition_shard(
            job.id,
            shard.index,
            ShardState.STORED,
            from_states=(ShardState.ENDED,),
            counts=counts,
        )
    totals = _totals(store.load_shards(job))
    stored = rt.results.count(job.id)
    if stored != job.request_count:
        store.record_error(
            job.id, f"accounting: {stored} results stored for {job.request_count} requests"
        )
    if job.results_path:
        write_results_file(rt, job)
    store.expire(job, rt.settings.results_ttl)
    store.transition(job, JobState.RESULTS_STORED, counts=totals)
    callbacks.dispatch(rt, store.load(job_id))
    return JobState.RESULTS_STORED


def store_shard_results(
    rt: Runtime, job: Job, shard: Shard, *, give_up: str = ""
) -> dict[str, int]:
    """Write one shard's results to Redis; return its counts by outcome."""
    expected = list(shard_custom_ids(job.id, shard))
    expected_set = set(expected)
    counts: Counter[str] = Counter()
    settings = rt.settings
    writer = rt.results.writer(
        job.id, ttl=settings.results_ttl, chunk_size=settings.results_chunk_size
    )
    for data in _shard_results(rt, job, shard, expected, give_up):
        if data["custom_id"] not in expected_set:
            counts["unmatched"] += 1
            writer.put_unmatched(data)
            continue
        counts["succeeded" if data["success"] else str(data["error_type"])] += 1
        writer.put(data)
    writer.flush()
    return dict(counts)


def _shard_results(
    rt: Runtime, job: Job, shard: Shard, expected: list[str], give_up: str
) -> Iterator[dict[str, Any]]:
    """Every result of the shard as a ``to_dict`` dict, each expected id exactly once."""
    if give_up:
        yield from _keep_stored(rt, job, expected, give_up)
        return
    readable = RESULT_BEARING_STATUSES
    if shard.batch_id and shard.status in readable | {BatchStatus.FAILED}:
        # Reading results takes two calls at least: the batch, then its result file.
        rt.limiter.acquire(job.provider, calls=2)
        processor = rt.processor(job)
        try:
            results = processor.iter_results(shard.batch_id, expected_ids=expected)
        except ResultsNotReadyError:
            # Failed with nothing written (the usual failure): handled below. A failed Vertex
            # job that wrote its completed rows is read like any other.
            if shard.status in readable:
                raise
        else:
            for result in results:
                yield result.to_dict()
            return
    # No provider batch, or one that failed as a whole: every request gets the batch's error.
    cancelled = shard.status is BatchStatus.CANCELLED
    error_type = ErrorType.CANCELLED if cancelled else ErrorType.PROVIDER_ERROR
    if shard.error_type:
        error_type = ErrorType(shard.error_type)
    ended_as = shard.status.value if shard.status else "failed"
    message = shard.error or f"the provider batch ended as {ended_as}"
    for cid in expected:
        yield BatchError(custom_id=cid, error_type=error_type, error_message=message).to_dict()


def _keep_stored(
    rt: Runtime, job: Job, expected: list[str], message: str
) -> Iterator[dict[str, Any]]:
    """Results already stored by an earlier attempt, and an error for every other request."""
    chunk = rt.settings.results_chunk_size
    for first in range(0, len(expected), chunk):
        part = expected[first : first + chunk]
        for custom_id, stored in zip(part, rt.results.get_many(job.id, part), strict=True):
            if stored is not None:
                yield stored
            else:
                yield BatchError(
                    custom_id=custom_id, error_type=ErrorType.MISSING, error_message=message
                ).to_dict()


def _totals(shards: list[Shard]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for shard in shards:
        totals.update(shard.counts)
    totals["failed"] = sum(v for k, v in totals.items() if k not in ("succeeded", "unmatched"))
    totals.setdefault("succeeded", 0)
    return dict(totals)


def write_results_file(rt: Runtime, job: Job) -> None:
    """Write every result as JSONL to ``job.results_path``, in request order, atomically."""
    with atomic_file(job.results_path) as sink:
        shards = rt.store.load_shards(job)
        for item in rt.results.iter_stored(job, shards, rt.settings.results_chunk_size):
            sink.write(orjson.dumps(item) + b"\n")
