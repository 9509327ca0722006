"""Submitting a job: split it into shards, then claim, call and record each provider batch.

Creating a provider batch is the only step that costs money and the only one that cannot be
repeated safely, so it follows one rule: **claim, then call, then record**.

1. ``SET {shard}:submit "claimed:<worker>:<time>" NX`` with no TTL before the paid call.
2. Call the provider with the job id and shard in its metadata (OpenAI metadata, Vertex
   labels) and in every request's ``custom_id`` (Anthropic keeps no batch metadata).
3. Overwrite the claim with the provider batch id.

A run that finds a claim without a batch id (a worker died between 1 and 3, or a call timed
out) reconciles: it looks for the batch among the provider's recent batches. If none exists
after ``submit_grace`` seconds it concludes the call never reached the provider and submits.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from batchline.batching.options import RequestOptions
from batchline.batching.processor import BatchProcessor
from batchline.batching.providers import provider_class
from batchline.batching.results import ErrorType
from batchline.batching.status import BatchStatus
from batchline.errors import (
    BatchlineError,
    ClaimPending,
    ConfigurationError,
    ProviderRejected,
    ProviderRetryableError,
    ResponseModelError,
    SubmitBudgetBusy,
)
from batchline.workers import polling
from batchline.workers.jobs import (
    OUTCOME_STATES,
    Job,
    JobState,
    Shard,
    ShardState,
    custom_id,
    shard_custom_ids,
)
from batchline.workers.payloads import read_requests
from batchline.workers.ratelimit import CallKind, submit_calls
from batchline.workers.reconcile import cancel_duplicate, claim_deadline, reconcile, shard_mark
from batchline.workers.runtime import Runtime
from batchline.workers.stores.polls import parse_member
from batchline.workers.tasknames import CANCEL_JOB, COMPLETE_JOB

logger = logging.getLogger("batchline.workers")

_CLAIMED = "claimed:"
_REJECTED = "rejected:"


@dataclass(slots=True)
class ShardLimits:
    max_requests: int
    max_bytes: int


def shard_limits(rt: Runtime, processor: BatchProcessor[Any]) -> ShardLimits:
    """The provider's per-batch limits, lowered by the settings when they ask for less; the
    byte budget is for the request lines, so the payload's envelope comes off it."""
    limits = processor.provider.limits
    settings = rt.settings
    return ShardLimits(
        max_requests=min(
            limits.max_requests, settings.max_requests_per_batch or limits.max_requests
        ),
        max_bytes=min(limits.max_bytes, settings.max_bytes_per_batch or limits.max_bytes)
        - limits.envelope_bytes,
    )


def plan_shards(rt: Runtime, job: Job, processor: BatchProcessor[Any]) -> list[tuple[int, int]]:
    """Split the requests greedily into ranges that each fit one provider batch.

    Sizes are measured on the encoded request lines (schema included), exactly as the
    provider will see them, so a shard never fails the library's own limit check.
    """
    limits = shard_limits(rt, processor)
    encode = processor.provider.line_encoder(processor.response_model, request_options(job))
    ranges: list[tuple[int, int]] = []
    start = size = 0
    for index, messages in enumerate(_requests(rt, job, 0, job.request_count)):
        line_bytes = len(encode(custom_id(job.id, len(ranges), index), messages)) + 1
        count = index - start
        if count and (count + 1 > limits.max_requests or size + line_bytes > limits.max_bytes):
            ranges.append((start, index))
            start, size = index, 0
        size += line_bytes
    ranges.append((start, job.request_count))
    return ranges


def request_options(job: Job) -> RequestOptions:
    return RequestOptions(max_tokens=job.max_tokens, temperature=job.temperature)


def submit_job(rt: Runtime, job_id: str) -> JobState:
    """Submit every shard of a job that has no provider batch yet; safe to run any number of
    times, concurrently. Raises ``ProviderRetryableError`` or ``ClaimPending`` to be retried."""
    store = rt.store
    job = store.load(job_id)
    if job.state is JobState.QUEUED:
        store.transition(job, JobState.SUBMITTING)
        job = store.load(job_id)
    if job.state in OUTCOME_STATES:
        polling.maybe_finish(rt, job_id, resend=True)  # finished, maybe not handed on yet
    if job.state is not JobState.SUBMITTING:
        return job.state  # submitted already, cancelled before submission, or a duplicate
    processor = rt.processor(job)
    if job.shard_count == 0:
        store.plan_shards(job, plan_shards(rt, job, processor))
    for shard in store.load_shards(job):
        if shard.state is not ShardState.PENDING:
            continue
        if store.load(job_id).cancel_requested:
            end_shard(rt, job, shard, BatchStatus.CANCELLED, "cancelled before submission")
            continue
        submit_shard(rt, job, processor, shard)
    return after_submission(rt, job_id)


def after_submission(rt: Runtime, job_id: str) -> JobState:
    """Move the job on once no shard is left to submit."""
    store = rt.store
    job = store.load(job_id)
    shards = store.load_shards(job)
    if any(s.state is ShardState.SUBMITTED for s in shards):
        store.transition(job, JobState.SUBMITTED, submitted_at=time.time())
    polling.maybe_finish(rt, job_id)
    return store.load(job_id).state


def fail_pending_shards(
    rt: Runtime, job_id: str, message: str, error_type: ErrorType | None = None
) -> None:
    """Give up on every shard without a provider batch (after the last retry, or when the job
    cannot be built at all), so that the job still ends and its requests come back as errors
    (``error_type``, provider_error by default).

    A shard whose claim is undecided (a call that may have created a batch) is never ended:
    this raises ``ClaimPending`` until the claim is decided (its batch adopted, or its
    deadline passed with none found), and the caller runs it again then.
    """
    store = rt.store
    job = store.load(job_id)
    store.record_error(job_id, message)
    if job.shard_count == 0:
        store.plan_shards(job, [(0, job.request_count)])
    waits: list[float] = []
    for shard in store.load_shards(job):
        if shard.state is not ShardState.PENDING:
            continue
        wait = _settle_claim(rt, job, shard)
        if wait is None:
            continue  # its batch is found and recorded
        if wait > 0:
            waits.append(wait)
        else:
            end_shard(rt, job, shard, BatchStatus.FAILED, message, error_type)
    if waits:
        raise ClaimPending(
            f"giving up, but {len(waits)} shard(s) have a claim whose batch may exist; waiting "
            "for each to be decided before ending them",
            retry_in=min(waits),
        )
    after_submission(rt, job_id)


def _settle_claim(rt: Runtime, job: Job, shard: Shard) -> float | None:
    """Before giving a shard up, decide its claim: ``None`` when its batch is found (and now
    recorded), ``0.0`` when no batch can exist, else the seconds to wait before asking again."""
    claim = rt.claims.get(rt.keys.submit_claim(job.id, shard.index)) or ""
    if not claim:
        return 0.0
    if claim.startswith(_REJECTED):
        return 0.0
    if not claim.startswith(_CLAIMED):
        record_submitted(rt, job, shard, claim)  # a batch id whose shard was never moved on
        return None
    claimed_at = _claim_time(claim)
    cap = rt.settings.retry_backoff_max
    try:
        processor = rt.processor(job)
        found = reconcile(rt, job, processor, shard, claimed_at=claimed_at)
    except ClaimPending as exc:
        return max(exc.retry_in, 0.1)
    except Exception:  # the provider is failing: wait for it until the claim's deadline
        logger.exception("job=%s shard=%d: last reconciliation failed", job.id, shard.index)
        recognisable = provider_class(job.provider).recognisable_within
        left = claim_deadline(rt, recognisable, claimed_at) - time.time()
        return min(left, cap) if left > 0 else 0.0
    if found is not None:
        record_submitted(rt, job, shard, found)
        return None
    left = claimed_at + rt.settings.submit_grace - time.time()  # the call may still answer
    return min(left, cap) if left > 0 else 0.0


def end_shard(
    rt: Runtime,
    job: Job,
    shard: Shard,
    status: BatchStatus,
    error: str,
    error_type: ErrorType | None = None,
) -> None:
    """Mark a shard finished without a provider batch (rejected, or cancelled first);
    ``error_type`` is what its requests come back as, when not the status's default."""
    rt.store.transition_shard(
        job.id,
        shard.index,
        ShardState.ENDED,
        from_states=(ShardState.PENDING,),
        status=status,
        error=error,
        error_type=error_type.value if error_type else "",
    )


def failure_type(exc: BaseException) -> ErrorType:
    """How requests that never reached the provider because of ``exc`` come back: a mistake
    on this side (configuration, an unimportable response model) is not a provider error,
    which ``retry_failed`` would retry by default."""
    if isinstance(exc, ConfigurationError | ResponseModelError):
        return ErrorType.CONFIGURATION_ERROR
    return ErrorType.PROVIDER_ERROR


# -- one shard: claim, call, record -------------------------------------------------------------
def submit_shard(rt: Runtime, job: Job, processor: BatchProcessor[Any], shard: Shard) -> None:
    claim_key = rt.keys.submit_claim(job.id, shard.index)
    token = f"{_CLAIMED}{socket.gethostname()}-{os.getpid()}:{uuid.uuid4().hex[:8]}:{time.time()!r}"
    if rt.claims.take(claim_key, token):
        _wait_for_budget(rt, job, shard, claim_key, token)
        _call_and_record(rt, job, processor, shard, claim_key, token)
        return
    current = rt.claims.get(claim_key) or ""
    if current.startswith(_REJECTED):
        return  # refused by the provider: the shard is ending as failed
    if not current.startswith(_CLAIMED):
        record_submitted(rt, job, shard, current)  # a batch id: an earlier run got this far
        return
    found = reconcile(rt, job, processor, shard, claimed_at=_claim_time(current))
    if found is not None:
        if not rt.claims.compare_and_set(claim_key, current, found):
            raise ClaimPending(f"shard {shard.index}'s claim changed under us", retry_in=0.5)
        logger.warning(
            "job=%s shard=%d: adopted provider batch %s left by an interrupted submit",
            job.id,
            shard.index,
            found,
        )
        record_submitted(rt, job, shard, found)
        return
    age = time.time() - _claim_time(current)
    if age < rt.settings.submit_grace:
        raise ClaimPending(
            f"shard {shard.index} is claimed by another attempt ({current}); no provider batch "
            f"found yet, waiting before resubmitting",
            retry_in=min(rt.settings.submit_grace - age, rt.settings.retry_backoff_max),
        )
    if not rt.claims.compare_and_set(claim_key, current, token):
        raise ClaimPending(f"shard {shard.index}'s claim changed under us", retry_in=0.5)
    _wait_for_budget(rt, job, shard, claim_key, token)
    logger.warning(
        "job=%s shard=%d: no provider batch %.0f s after claim %s; submitting again",
        job.id,
        shard.index,
        age,
        current,
    )
    _call_and_record(rt, job, processor, shard, claim_key, token)


def _wait_for_budget(rt: Runtime, job: Job, shard: Shard, claim_key: str, token: str) -> None:
    """Take the submission's calls from the provider's budget (``ratelimit``: finishing work
    comes first), or give the claim and the worker thread back: ``SubmitBudgetBusy`` sends a
    fresh submit task a moment later, so that waiting submissions never hold every thread."""
    calls = submit_calls(job.provider)
    wait = rt.settings.submit_budget_wait
    if rt.limiter.acquire(job.provider, kind=CallKind.SUBMIT, calls=calls, max_wait=wait):
        return
    rt.claims.compare_and_delete(claim_key, token)  # nothing reached the provider
    raise SubmitBudgetBusy(
        f"shard {shard.index}: no room in the {job.provider} rate budget for a submission",
        retry_in=rt.limiter.submit_backoff(job.provider, calls),
    )


def _call_and_record(
    rt: Runtime,
    job: Job,
    processor: BatchProcessor[Any],
    shard: Shard,
    claim_key: str,
    token: str,
) -> None:
    with ExitStack() as cleanup:
        try:
            path = cleanup.enter_context(_shard_file(rt, job, processor, shard))
        except BaseException:
            rt.claims.compare_and_delete(claim_key, token)  # nothing reached the provider
            raise
        try:
            batch_id = processor.submit_batch(path, metadata=shard_metadata(job, shard))
        except ProviderRetryableError as exc:
            if exc.status_code is not None:
                # The provider answered with an error: it created nothing, so the claim can
                # go. Without a status (a timeout) the batch may exist: the claim stays.
                rt.claims.compare_and_delete(claim_key, token)
            rt.store.record_error(job.id, f"submitting shard {shard.index}: {exc}")
            raise
        except BatchlineError as exc:
            # Refused for good (ProviderRejected, over a limit, a missing credential): the
            # provider created nothing, and asking again cannot help. The shard ends before
            # the claim says so, so that no other run mistakes the claim for a batch id.
            end_shard(rt, job, shard, BatchStatus.FAILED, str(exc), failure_type(exc))
            rt.claims.set(claim_key, f"{_REJECTED}{time.time()!r}")
            rt.store.record_error(job.id, f"shard {shard.index} rejected: {exc}")
            return
    # A failed swap is fine when a concurrent run found our batch and recorded it first.
    swapped = rt.claims.compare_and_set(claim_key, token, batch_id)
    if not swapped and (owner := str(rt.claims.get(claim_key))) != batch_id:
        # We outlived ``submit_grace``: another attempt took the claim over and owns the shard.
        cancel_duplicate(rt, job, shard.index, batch_id, f"the claim passed to {owner}")
        return
    record_submitted(rt, job, shard, batch_id)


def record_submitted(rt: Runtime, job: Job, shard: Shard, batch_id: str) -> None:
    """Record the shard's provider batch and start polling it. If the shard already has a
    different batch, ours is a duplicate: cancel it rather than pay for both."""
    moved = rt.store.transition_shard(
        job.id,
        shard.index,
        ShardState.SUBMITTED,
        from_states=(ShardState.PENDING,),
        batch_id=batch_id,
        status=BatchStatus.VALIDATING,
    )
    if moved:
        rt.store.record_owner(job.provider, batch_id, job.id, shard.index)
        polling.schedule(rt, job.provider, job.id, shard.index, delay=rt.settings.poll_interval)
    else:
        recorded = rt.store.load_shard(job.id, shard.index).batch_id
        if recorded and recorded != batch_id:
            cancel_duplicate(rt, job, shard.index, batch_id, f"{recorded} is recorded")
            return
    if rt.store.load(job.id).cancel_requested:
        rt.send(CANCEL_JOB, job)  # cancelled while we were submitting


def shard_metadata(job: Job, shard: Shard) -> dict[str, str]:
    """The user's metadata plus batchline's mark, whose keys win on a clash."""
    return {**job.metadata, **shard_mark(job.id, shard.index).metadata}


def _claim_time(claim: str) -> float:
    try:
        return float(claim.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return 0.0


@contextmanager
def _shard_file(
    rt: Runtime, job: Job, processor: BatchProcessor[Any], shard: Shard
) -> Iterator[str]:
    """The shard's request file, in a private temporary directory removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="batchline-") as directory:
        # A deterministic name: a retried upload of the same shard is recognisably the same.
        path = os.path.join(directory, f"batchline-{job.id}-{shard.index}.jsonl")
        processor.create_batch_from_messages(
            _requests(rt, job, shard.start, shard.end),
            path,
            max_tokens=job.max_tokens,
            temperature=job.temperature,
            custom_ids=shard_custom_ids(job.id, shard),
        )
        yield path


def _requests(rt: Runtime, job: Job, start: int, end: int) -> Iterator[list[Any]]:
    return read_requests(rt.requests, job.id, job.requests_path, start, end)


def cancel_job(rt: Runtime, job_id: str) -> JobState:
    """Cancel a job wherever it is: before submission nothing is sent to the provider; after,
    each provider batch is cancelled and polling picks up the partial results as usual."""
    store = rt.store
    job = store.load(job_id)
    store.request_cancel(job_id)
    if job.state is JobState.QUEUED:
        store.transition(
            job, JobState.CANCELLED, outcome=JobState.CANCELLED, finished_at=time.time()
        )
        job = store.load(job_id)
    if job.state is JobState.CANCELLED and not job.submitted_at:
        # Cancelled before submission (now, or by an earlier run of this task that died): the
        # submit task can no longer start (it needs ``queued``), so this plan is the only one.
        store.plan_shards(job, [(0, job.request_count)])
        for shard in store.load_shards(job):
            end_shard(rt, job, shard, BatchStatus.CANCELLED, "cancelled before submission")
        rt.send(COMPLETE_JOB, job)
        return JobState.CANCELLED
    if job.state in (JobState.SUBMITTING, JobState.SUBMITTED):
        for shard in store.load_shards(job):
            if shard.state is not ShardState.SUBMITTED:
                continue
            try:
                rt.cancel_batch(job.provider, shard.batch_id)
            except ProviderRejected as exc:  # e.g. it ended meanwhile: nothing left to cancel
                store.record_error(job_id, f"cancelling shard {shard.index}: {exc}")
    return store.load(job_id).state


def resubmit_waiting(rt: Runtime, item: str) -> None:
    """Send again a shard whose wait for the provider's token quota is over (the poll tick
    found it due); if that cannot happen now, it is due again next interval."""
    job_id, index = parse_member(item)
    job = rt.store.load(job_id)
    shard = rt.store.load_shard(job_id, index)
    if shard.state is not ShardState.PENDING:
        return  # a concurrent tick sent it already
    if job.cancel_requested:
        end_shard(rt, job, shard, BatchStatus.CANCELLED, "cancelled while waiting for capacity")
    else:
        try:
            submit_shard(rt, job, rt.processor(job), shard)
        except BatchlineError as exc:  # a retryable provider error, or a claim still pending
            logger.warning("job=%s shard=%d: resubmission failed: %s", job.id, index, exc)
            polling.schedule(rt, job.provider, job.id, index, delay=rt.settings.poll_interval)
            return
    if rt.store.load_shard(job_id, index).state is ShardState.ENDED:
        polling.maybe_finish(rt, job_id)  # refused for good, or cancelled: the job may be over
        rt.polls.drop(job.provider, item)
