"""The job record and its state machine (stored by ``batchline.workers.stores.jobs``).

A job is one ``enqueue_batch`` call. It is split into shards, each one provider batch. The job
moves forward only through ``JobStore.transition``, a compare-and-set in Redis: a task that runs
twice (Celery delivers at least once) finds the job already moved and does nothing twice.

::

    queued -> submitting -> submitted -> completed | failed | expired | cancelled
           -> results_stored -> callbacks_done

Shards have their own small vocabulary (``ShardState``) so that tasks working on different
shards of one job never write the same Redis field.

Records hold typed values (states, statuses, callback specs); ``batchline.workers.codec``
turns them into strings at the Redis edge, by one loop over their fields.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from batchline.batching.options import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE
from batchline.batching.status import BatchStatus
from batchline.workers.callbackspec import CallbackSpec

logger = logging.getLogger("batchline.jobs")


class JobState(StrEnum):
    """Where a job is. Every state change is one log line on ``batchline.jobs``."""

    QUEUED = "queued"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    RESULTS_STORED = "results_stored"
    CALLBACKS_DONE = "callbacks_done"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


#: How the provider side ended; kept in ``Job.outcome`` after the state moves on.
OUTCOME_STATES: frozenset[JobState] = frozenset(
    {JobState.COMPLETED, JobState.FAILED, JobState.EXPIRED, JobState.CANCELLED}
)
#: States in which every request has a stored result.
RESULTS_READY_STATES: frozenset[JobState] = frozenset(
    {JobState.RESULTS_STORED, JobState.CALLBACKS_DONE}
)
#: Nothing happens to a job after these.
TERMINAL_STATES: frozenset[JobState] = frozenset({JobState.CALLBACKS_DONE})

#: state -> the states it may move to.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.SUBMITTING, JobState.CANCELLED, JobState.FAILED}),
    JobState.SUBMITTING: frozenset({JobState.SUBMITTED} | OUTCOME_STATES),
    JobState.SUBMITTED: OUTCOME_STATES,
    **{state: frozenset({JobState.RESULTS_STORED}) for state in OUTCOME_STATES},
    JobState.RESULTS_STORED: frozenset({JobState.CALLBACKS_DONE}),
    JobState.CALLBACKS_DONE: frozenset(),
}


class ShardState(StrEnum):
    """Where one shard (one provider batch) is."""

    #: Planned; no provider batch yet (or a claim whose call has not reported back).
    PENDING = "pending"
    #: The provider batch exists; its id is recorded.
    SUBMITTED = "submitted"
    #: The provider batch is terminal (or was never created: rejected, cancelled first).
    ENDED = "ended"
    #: Every request of the shard has its result in Redis.
    STORED = "stored"


@dataclass(slots=True)
class Shard:
    """One provider batch of a job: requests ``start`` to ``end`` (exclusive)."""

    index: int
    start: int
    end: int
    state: ShardState = ShardState.PENDING
    batch_id: str = ""
    #: batchline's normalised status of the provider batch, once known.
    status: BatchStatus | None = None
    provider_status: str = ""
    error: str = ""
    #: For a shard that ended without a provider batch: the ``ErrorType`` its requests get
    #: ("" = provider_error, or cancelled when the status says so).
    error_type: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    poll_failures: int = 0
    #: Times the shard was sent again because its batch failed over the provider's
    #: enqueued-token quota (OpenAI's ``token_limit_exceeded``); bounded in ``polling``.
    capacity_waits: int = 0

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(slots=True)
class Job:
    """The job record. Requests and results live under their own keys, never in here."""

    id: str
    model: str
    provider: str
    response_model: str
    request_count: int
    state: JobState = JobState.QUEUED
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float | None = DEFAULT_TEMPERATURE
    metadata: dict[str, str] = field(default_factory=dict)
    provider_options: dict[str, Any] = field(default_factory=dict)
    callbacks: list[CallbackSpec] = field(default_factory=list)
    #: Where the requests are when they are not in Redis (a path workers can read).
    requests_path: str = ""
    #: Where workers also write the results as JSONL, when asked.
    results_path: str = ""
    #: The job whose failed requests this job retries ("" for a first run).
    retry_of: str = ""
    shard_count: int = 0
    #: How the provider side ended (one of ``OUTCOME_STATES``), once it has.
    outcome: JobState | None = None
    last_error: str = ""
    cancel_requested: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    submitted_at: float = 0.0
    finished_at: float = 0.0


def custom_id(job_id: str, shard: int, index: int) -> str:
    """The provider custom id of request ``index`` (global, 0-based) in ``shard``.

    It carries the job id so that Anthropic, which has no batch metadata, can still tell which
    batch belongs to which job; the ``-{shard}-`` part makes each shard's ids share a prefix.
    The job id is 16 hex characters, so ids stay well inside Anthropic's 64-character limit.
    """
    return f"{job_id}-{shard}-{index}"


def custom_id_prefix(job_id: str, shard: int) -> str:
    return f"{job_id}-{shard}-"


def request_index(custom_id_value: str) -> int:
    """The request index a custom id carries (the inverse of ``custom_id``)."""
    return int(custom_id_value.rsplit("-", 1)[1])


def shard_custom_ids(job_id: str, shard: Shard) -> Iterator[str]:
    return (custom_id(job_id, shard.index, i) for i in range(shard.start, shard.end))


def outcome_of(statuses: Iterable[BatchStatus | None]) -> JobState:
    """The job outcome from its shards' final statuses: the worst one wins.

    A single failed shard marks the job failed (its requests have no answers); otherwise an
    expired shard marks it expired, a cancelled one cancelled.
    """
    seen = set(statuses)
    for status, state in (
        (BatchStatus.FAILED, JobState.FAILED),
        (BatchStatus.EXPIRED, JobState.EXPIRED),
        (BatchStatus.CANCELLED, JobState.CANCELLED),
    ):
        if status in seen:
            return state
    return JobState.COMPLETED


def log_state_change(job: Job, previous: JobState | None) -> None:
    """One structured line per state change: readable as logfmt, and as fields in ``extra``."""
    fields: dict[str, Any] = {
        "job_id": job.id,
        "provider": job.provider,
        "from_state": previous.value if previous else "",
        "state": job.state.value,
        "requests": job.request_count,
        "shards": job.shard_count,
        **{f"n_{name}": value for name, value in sorted(job.counts.items())},
    }
    if job.last_error and job.state in (JobState.FAILED,):
        fields["error"] = job.last_error
    line = " ".join(f"{name}={_logfmt(value)}" for name, value in fields.items())
    logger.info("job state change %s", line, extra={"batchline": fields})


def _logfmt(value: Any) -> str:
    text = str(value)
    return orjson.dumps(text).decode() if (" " in text or "=" in text or not text) else text
