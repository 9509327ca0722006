"""The job record and its state machine (stored by ``batchline.workers.store``).

A job is one ``enqueue_batch`` call. It is split into shards, each one provider batch. The job
moves forward only through ``JobStore.transition``, a compare-and-set in Redis: a task that runs
twice (Celery delivers at least once) finds the job already moved and does nothing twice.

::

    queued -> submitting -> submitted -> completed | failed | expired | cancelled
           -> results_stored -> callbacks_done

Shards have their own small vocabulary (``ShardState``) so that tasks working on different
shards of one job never write the same Redis field.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from batchline.batching.status import BatchStatus
from batchline.errors import BatchlineError

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


class JobNotFoundError(BatchlineError, KeyError):
    """No job with that id (never enqueued, deleted, or in another key prefix)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "job not found"


@dataclass(slots=True)
class Shard:
    """One provider batch of a job: requests ``start`` to ``end`` (exclusive)."""

    index: int
    start: int
    end: int
    state: ShardState = ShardState.PENDING
    batch_id: str = ""
    #: batchline's normalised status of the provider batch (``BatchStatus``), once known.
    status: str = ""
    provider_status: str = ""
    error: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    poll_failures: int = 0
    #: Times the shard was sent again because its batch failed over the provider's
    #: enqueued-token quota (OpenAI's ``token_limit_exceeded``); bounded in ``polling``.
    capacity_waits: int = 0

    @property
    def size(self) -> int:
        return self.end - self.start

    def to_redis(self) -> dict[str, str]:
        return {
            "index": str(self.index),
            "start": str(self.start),
            "end": str(self.end),
            "state": self.state.value,
            "batch_id": self.batch_id,
            "status": self.status,
            "provider_status": self.provider_status,
            "error": self.error,
            "counts": orjson.dumps(self.counts).decode(),
            "poll_failures": str(self.poll_failures),
            "capacity_waits": str(self.capacity_waits),
        }

    @classmethod
    def from_redis(cls, data: dict[str, str]) -> Shard:
        return cls(
            index=int(data["index"]),
            start=int(data["start"]),
            end=int(data["end"]),
            state=ShardState(data.get("state") or ShardState.PENDING),
            batch_id=data.get("batch_id", ""),
            status=data.get("status", ""),
            provider_status=data.get("provider_status", ""),
            error=data.get("error", ""),
            counts=orjson.loads(data.get("counts") or "{}"),
            poll_failures=int(data.get("poll_failures") or 0),
            capacity_waits=int(data.get("capacity_waits") or 0),
        )


@dataclass(slots=True)
class Job:
    """The job record. Requests and results live under their own keys, never in here."""

    id: str
    model: str
    provider: str
    response_model: str
    request_count: int
    state: JobState = JobState.QUEUED
    max_tokens: int = 1000
    temperature: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    provider_options: dict[str, Any] = field(default_factory=dict)
    #: Callback specs as plain dicts (``CallbackSpec.to_dict``).
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    #: Where the requests are when they are not in Redis (a path workers can read).
    requests_path: str = ""
    #: Where workers also write the results as JSONL, when asked.
    results_path: str = ""
    #: The job whose failed requests this job retries ("" for a first run).
    retry_of: str = ""
    shard_count: int = 0
    outcome: str = ""
    last_error: str = ""
    cancel_requested: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    submitted_at: float = 0.0
    finished_at: float = 0.0

    def to_redis(self) -> dict[str, str]:
        def number(value: float) -> str:
            return repr(value) if value else ""

        return {
            "id": self.id,
            "model": self.model,
            "provider": self.provider,
            "response_model": self.response_model,
            "request_count": str(self.request_count),
            "state": self.state.value,
            "max_tokens": str(self.max_tokens),
            "temperature": "" if self.temperature is None else repr(self.temperature),
            "metadata": orjson.dumps(self.metadata).decode(),
            "provider_options": orjson.dumps(self.provider_options).decode(),
            "callbacks": orjson.dumps(self.callbacks).decode(),
            "requests_path": self.requests_path,
            "results_path": self.results_path,
            "retry_of": self.retry_of,
            "shard_count": str(self.shard_count),
            "outcome": self.outcome,
            "last_error": self.last_error,
            "cancel_requested": "1" if self.cancel_requested else "",
            "counts": orjson.dumps(self.counts).decode(),
            "created_at": number(self.created_at),
            "updated_at": number(self.updated_at or self.created_at),
            "submitted_at": number(self.submitted_at),
            "finished_at": number(self.finished_at),
        }

    @classmethod
    def from_redis(cls, data: dict[str, str]) -> Job:
        def number(name: str) -> float:
            return float(data.get(name) or 0.0)

        temperature = data.get("temperature")
        return cls(
            id=data["id"],
            model=data["model"],
            provider=data["provider"],
            response_model=data["response_model"],
            request_count=int(data["request_count"]),
            state=JobState(data["state"]),
            max_tokens=int(data.get("max_tokens") or 1000),
            temperature=float(temperature) if temperature else None,
            metadata=orjson.loads(data.get("metadata") or "{}"),
            provider_options=orjson.loads(data.get("provider_options") or "{}"),
            callbacks=orjson.loads(data.get("callbacks") or "[]"),
            requests_path=data.get("requests_path", ""),
            results_path=data.get("results_path", ""),
            retry_of=data.get("retry_of", ""),
            shard_count=int(data.get("shard_count") or 0),
            outcome=data.get("outcome", ""),
            last_error=data.get("last_error", ""),
            cancel_requested=bool(data.get("cancel_requested")),
            counts=orjson.loads(data.get("counts") or "{}"),
            created_at=number("created_at"),
            updated_at=number("updated_at"),
            submitted_at=number("submitted_at"),
            finished_at=number("finished_at"),
        )


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


def outcome_of(statuses: Iterable[str]) -> JobState:
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
        if status.value in seen:
            return state
    return JobState.COMPLETED


def log_state_change(job: Job, previous: str) -> None:
    """One structured line per state change: readable as logfmt, and as fields in ``extra``."""
    fields: dict[str, Any] = {
        "job_id": job.id,
        "provider": job.provider,
        "from_state": previous,
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
