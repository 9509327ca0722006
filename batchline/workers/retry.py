"""Retrying a finished job's failed requests as a new job, at most once per job.

A retry is a job of its own (own batches, own callbacks, own results), made of the original
requests that failed in a retryable way. Its results carry the original job's custom ids, so
``merge_results(original.results(), retry.results())`` gives one result per original request.

Asking twice gives the same retry job: a claim key set before anything is enqueued names it,
so a double click in a web app cannot pay for the failed requests twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from batchline.batching.providers.base import Message
from batchline.batching.results import RETRYABLE_ERRORS, ErrorType
from batchline.errors import (
    InvalidRequestError,
    RequestsExpiredError,
    ResultsExpiredError,
    ResultsNotReadyError,
    RetryInProgressError,
)
from batchline.workers.callbackspec import CallbackSpec
from batchline.workers.jobs import RESULTS_READY_STATES, Job, request_index
from batchline.workers.payloads import read_requests
from batchline.workers.queueing import queue_job
from batchline.workers.runtime import Runtime

#: Seconds the claim lives while its retry job is being queued (then: as long as the results).
CLAIM_PENDING_TTL = 60
#: Seconds a second caller waits for the first to finish queueing.
CLAIM_WAIT = 30.0


def retry_failed(
    rt: Runtime,
    job_id: str,
    *,
    new_id: str,
    error_types: Iterable[ErrorType | str] = RETRYABLE_ERRORS,
    callbacks: list[CallbackSpec] | None = None,
) -> str:
    """Queue the failed requests of ``job_id`` as job ``new_id``; return the retry's id (an
    earlier retry's, if the job was retried already)."""
    job = rt.store.load(job_id)
    if job.state not in RESULTS_READY_STATES:
        raise ResultsNotReadyError(
            f"job {job_id} is {job.state.value}: retry its failures once its results are stored"
        )
    claim = rt.keys.retry_claim(job_id)
    existing = _claim(rt, job_id, claim, new_id)
    if existing is not None:
        return existing
    try:
        indexes, original_ids = _failed(rt, job, {str(kind) for kind in error_types})
        retry = Job(
            id=new_id,
            model=job.model,
            provider=job.provider,
            response_model=job.response_model,
            request_count=0,
            max_tokens=job.max_tokens,
            temperature=job.temperature,
            metadata=job.metadata,
            provider_options=job.provider_options,
            callbacks=job.callbacks if callbacks is None else callbacks,
            retry_of=job.id,
        )
        queue_job(rt, retry, _requests_at(rt, job, indexes), retry_ids=original_ids)
    finally:
        # Once the retry job is stored it may run (and be paid for), even if queueing failed
        # after that: the claim keeps naming it as long as the results live. Before that,
        # nothing exists and a later call may try again.
        if rt.store.exists(new_id):
            rt.claims.set(claim, new_id, ttl=rt.settings.results_ttl)
        else:
            rt.claims.compare_and_delete(claim, new_id)
    return new_id


def _claim(rt: Runtime, job_id: str, claim: str, new_id: str) -> str | None:
    """Take the claim for ``new_id`` (``None``), or return the retry job another call made.

    The claim is short-lived until the retry job is stored, so a caller that dies in between
    does not block retries for long; a second caller meanwhile waits for the first to finish.
    """
    deadline = time.monotonic() + CLAIM_WAIT
    while True:
        if rt.claims.take(claim, new_id, ttl=CLAIM_PENDING_TTL):
            return None
        other = rt.claims.get(claim)
        if other is not None and rt.store.exists(other):
            return other
        if other is not None and rt.claims.ttl(claim) > CLAIM_PENDING_TTL:
            # A stored retry job that was deleted since: its claim no longer protects anything.
            rt.claims.compare_and_delete(claim, other)
            continue
        if time.monotonic() > deadline:
            raise RetryInProgressError(
                f"another retry of job {job_id} is being queued; ask again in a moment"
            )
        time.sleep(0.05)


def first_job_ids(rt: Runtime, job: Job) -> Callable[[str], str] | None:
    """For a retry job, the map from its custom ids to those of the first job's requests it
    answers (kept beside it when it was queued); ``None`` for a first run."""
    if not job.retry_of:
        return None
    first_ids = rt.requests.retry_ids(job.id)
    return lambda custom_id: first_ids[request_index(custom_id)]


def _failed(rt: Runtime, job: Job, kinds: set[str]) -> tuple[list[int], list[str]]:
    """Request indexes and custom ids of the results that failed one of the ``kinds`` ways."""
    indexes: list[int] = []
    custom_ids: list[str] = []
    # A retry of a retry answers the first job's requests: its ids pass through unchanged.
    to_first = first_job_ids(rt, job)
    shards = rt.store.load_shards(job)
    if len(shards) != job.shard_count:
        raise ResultsExpiredError(f"job {job.id}: its records have expired")
    for data in rt.results.iter_stored(job, shards, rt.settings.results_chunk_size):
        if data.get("missing"):
            raise ResultsExpiredError(
                f"job {job.id}: its results have expired (after {rt.settings.results_ttl} s)"
            )
        if not data["success"] and str(data["error_type"]) in kinds:
            index = request_index(data["custom_id"])
            indexes.append(index)
            custom_ids.append(to_first(data["custom_id"]) if to_first else data["custom_id"])
    if not indexes:
        raise InvalidRequestError(
            f"nothing to retry: no request of job {job.id} failed with {', '.join(sorted(kinds))}"
        )
    return indexes, custom_ids


def _requests_at(rt: Runtime, job: Job, indexes: list[int]) -> Iterator[list[Message]]:
    """The original requests at ``indexes`` (ascending), streamed from where the job keeps
    them; an error if they are gone."""
    wanted = iter(indexes)
    target = next(wanted)
    found = 0
    try:
        requests = read_requests(
            rt.requests, job.id, job.requests_path, indexes[0], indexes[-1] + 1
        )
        for index, messages in enumerate(requests, start=indexes[0]):
            if index == target:
                found += 1
                yield messages
                target = next(wanted, -1)
    except FileNotFoundError:
        pass
    if found != len(indexes):
        raise RequestsExpiredError(
            f"job {job.id}: its requests are gone (they expire with its results), so its "
            "failures cannot be retried"
        )
