"""The job API: ``enqueue_batch`` hands a job to the workers and returns a ``JobHandle``.

Enqueueing only writes to Redis and sends one small task message (the job id): no provider
call, no credential, no SDK import, so it takes milliseconds even for thousands of requests.
"""

from __future__ import annotations

import secrets
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from batchline.batching.processor import split_model
from batchline.batching.providers import PROVIDERS
from batchline.batching.providers.base import Message
from batchline.batching.results import (
    RETRYABLE_ERRORS,
    BatchError,
    BatchSuccess,
    ErrorType,
    merge_results,
    result_from_dict,
)
from batchline.errors import (
    BatchlineError,
    InvalidRequestError,
    ResultsNotReadyError,
    UnknownProviderError,
)
from batchline.modelref import import_model, model_path
from batchline.workers import callbacks as cb
from batchline.workers.jobs import (
    RESULTS_READY_STATES,
    TERMINAL_STATES,
    Job,
    JobState,
    log_state_change,
)
from batchline.workers.payloads import encode_requests, push_requests, write_requests_file
from batchline.workers.retry import first_job_ids

if TYPE_CHECKING:
    from celery import Celery

    from batchline.workers.runtime import Runtime

T = TypeVar("T", bound=BaseModel)

#: What ``callbacks=`` accepts: a spec, a webhook URL or task name, or a decorated function.
CallbackLike = cb.CallbackSpec | str | Callable[..., Any]


def _default_app() -> Celery:
    from batchline.workers.app import app

    return app


def _runtime(app: Celery) -> Runtime:
    runtime: Runtime = app.runtime  # type: ignore[attr-defined]
    return runtime


def new_job_id() -> str:
    """16 hex characters: unique enough, and short enough for Anthropic's 64-char custom ids."""
    return secrets.token_hex(8)


def enqueue_batch(
    model: str,
    response_model: type[T],
    messages: Iterable[Sequence[Message]],
    *,
    max_tokens: int = 1000,
    temperature: float | None = None,
    metadata: dict[str, str] | None = None,
    callbacks: Iterable[CallbackLike] = (),
    results_path: str | Path | None = None,
    requests_path: str | Path | None = None,
    provider_options: dict[str, Any] | None = None,
    app: Celery | None = None,
) -> JobHandle[T]:
    """Queue one job: its requests go to Redis (or ``requests_path``), a task id to the broker.

    ``callbacks`` fire once the results are stored: ``@on_batch_complete`` functions, webhook
    URLs (``"https://..."`` or ``webhook(url)``), or Celery task names (``task(name)``).
    ``results_path`` asks workers to also write the results there as JSONL; ``requests_path``
    keeps the requests in a file instead of Redis. Both must be on storage the workers share.
    """
    provider, _ = split_model(model)
    if provider not in PROVIDERS:
        raise UnknownProviderError(
            f"unknown provider {provider!r}: use one of {', '.join(sorted(PROVIDERS))}"
        )
    response_path = model_path(response_model)
    _check_schema(response_model)
    if max_tokens < 1:
        raise InvalidRequestError(f"max_tokens must be at least 1, got {max_tokens}")
    job = Job(
        id=new_job_id(),
        model=model,
        provider=provider,
        response_model=response_path,
        request_count=0,
        max_tokens=max_tokens,
        temperature=temperature,
        metadata=_check_metadata(metadata),
        provider_options=dict(provider_options or {}),
        callbacks=[cb.as_spec(value).to_dict() for value in callbacks],
        requests_path=str(Path(requests_path).resolve()) if requests_path else "",
        results_path=str(Path(results_path).resolve()) if results_path else "",
    )
    celery_app = app or _default_app()
    queue_job(_runtime(celery_app), job, messages)
    return JobHandle(job.id, celery_app)


def queue_job(
    rt: Runtime,
    job: Job,
    messages: Iterable[Sequence[Message]],
    *,
    retry_ids: Sequence[str] = (),
) -> None:
    """Store ``job`` with its requests in one pipeline, then send its submit task.

    ``retry_ids`` (for a job that retries another's failed requests) are the original custom
    ids of its requests, in order, kept beside it so its results can carry them.
    """
    encoded = encode_requests(messages)
    pipe = rt.redis.pipeline(transaction=False)
    if job.requests_path:
        count = write_requests_file(job.requests_path, encoded)
    else:
        count = push_requests(pipe, rt.keys, job.id, encoded)
    if count == 0:
        if job.requests_path:
            Path(job.requests_path).unlink(missing_ok=True)
        raise InvalidRequestError("messages is empty: a job needs at least one request")
    job.request_count = count
    if retry_ids:
        pipe.rpush(rt.keys.retry_ids(job.id), *retry_ids)
    rt.store.create(job, pipe)
    pipe.execute()
    log_state_change(job, "")
    rt.send("batchline.submit_job", job.id)


#: Response models whose schema was built once already (building it again costs as much).
_SCHEMA_CHECKED: weakref.WeakSet[type[BaseModel]] = weakref.WeakSet()


def _check_schema(response_model: type[BaseModel]) -> None:
    """An unusable schema fails here, in the caller's process, not later in a worker."""
    if response_model not in _SCHEMA_CHECKED:
        response_model.model_json_schema()
        _SCHEMA_CHECKED.add(response_model)


def _check_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise InvalidRequestError("metadata must be a dict of strings to strings")
    return dict(metadata)


@dataclass(slots=True)
class JobSummary:
    """A job at a glance: what callbacks receive and ``batchline jobs show`` prints."""

    id: str
    state: str
    outcome: str
    provider: str
    model: str
    response_model: str
    request_count: int
    counts: dict[str, int]
    metadata: dict[str, str]
    shards: list[dict[str, Any]]
    callbacks: list[dict[str, Any]]
    last_error: str
    #: The job whose failed requests this one retries ("" for a first run).
    retry_of: str
    created_at: str | None
    submitted_at: str | None
    finished_at: str | None
    updated_at: str | None
    results_path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobHandle(Generic[T]):
    """A job in the workers' hands: its state, its results once stored, and cancel."""

    def __init__(self, job_id: str, app: Celery | None = None) -> None:
        self.id = job_id
        self.app = app or _default_app()
        self._rt = _runtime(self.app)

    def __repr__(self) -> str:
        return f"JobHandle({self.id!r})"

    def job(self) -> Job:
        """The job record as stored now."""
        return self._rt.store.load(self.id)

    def status(self) -> JobState:
        return self.job().state

    def summary(self) -> JobSummary:
        rt = self._rt
        job = rt.store.load(self.id)
        shards = [
            {
                "index": s.index,
                "batch_id": s.batch_id,
                "state": s.state.value,
                "status": s.status,
                "provider_status": s.provider_status,
                "requests": s.size,
                "counts": s.counts,
                "error": s.error,
                "capacity_waits": s.capacity_waits,
            }
            for s in rt.store.load_shards(job)
        ]
        return JobSummary(
            id=job.id,
            state=job.state.value,
            outcome=job.outcome,
            provider=job.provider,
            model=job.model,
            response_model=job.response_model,
            request_count=job.request_count,
            counts=job.counts,
            metadata=job.metadata,
            shards=shards,
            callbacks=cb.callback_states(rt, job.id),
            last_error=job.last_error,
            retry_of=job.retry_of,
            created_at=_iso(job.created_at),
            submitted_at=_iso(job.submitted_at),
            finished_at=_iso(job.finished_at),
            updated_at=_iso(job.updated_at),
            results_path=job.results_path,
        )

    def wait(
        self, timeout: float | None = None, *, callbacks: bool = False, interval: float = 0.05
    ) -> JobState:
        """Block until the results are stored (or, with ``callbacks=True``, until every
        callback has ended); return the state. Raises ``TimeoutError`` after ``timeout``."""
        targets = TERMINAL_STATES if callbacks else RESULTS_READY_STATES
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = interval
        while True:
            state = self.status()
            if state in targets:
                return state
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.id} is still {state.value} after {timeout} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def results(self) -> list[BatchSuccess[T] | BatchError]:
        """Every request's typed result, in request order."""
        return list(self.iter_results())

    def iter_results(self) -> Iterator[BatchSuccess[T] | BatchError]:
        """Stream the typed results from Redis in request order, a chunk at a time."""
        from batchline.workers.completion import iter_stored

        rt = self._rt
        job = rt.store.load(self.id)
        if job.state not in RESULTS_READY_STATES:
            raise ResultsNotReadyError(
                f"job {self.id} is {job.state.value}: results are stored once it ends"
            )
        response_model: type[T] = import_model(job.response_model)  # type: ignore[assignment]
        to_first = first_job_ids(rt, job)
        for data in iter_stored(rt, job, rt.store.load_shards(job)):
            if data.get("missing"):
                raise BatchlineError(
                    f"job {self.id}: result {data['custom_id']} is gone (results expire after "
                    f"{rt.settings.results_ttl} s)"
                )
            result = result_from_dict(data, response_model)
            if to_first is not None:
                # A retry's results answer the first job's requests, under their ids.
                result.custom_id = to_first(data["custom_id"])
            yield result

    def retry_failed(
        self,
        error_types: Iterable[ErrorType | str] = RETRYABLE_ERRORS,
        *,
        callbacks: Iterable[CallbackLike] | None = None,
    ) -> JobHandle[T]:
        """Queue this finished job's failed requests as a new job, and return its handle.

        By default the errors a retry can fix are retried (``RETRYABLE_ERRORS``: provider
        errors, expired, cancelled, missing). The retry keeps the model, settings, metadata and
        (unless ``callbacks`` is given) the callbacks; its results carry this job's custom
        ids, so ``retry.merged_results()`` is one result per request of this job. Asking again
        returns the same retry job: the failed requests are never paid for twice.
        """
        from batchline.workers.retry import retry_failed

        specs = None if callbacks is None else [cb.as_spec(c).to_dict() for c in callbacks]
        retry_id = retry_failed(
            self._rt, self.id, new_id=new_job_id(), error_types=error_types, callbacks=specs
        )
        return JobHandle(retry_id, self.app)

    def merged_results(self) -> list[BatchSuccess[T] | BatchError]:
        """For a retry job: the retried job's (merged) results with this job's in place of the
        ones it retried (a success is never replaced by an error), so a chain of retries gives
        one result per request of the first job. For a first run: its results."""
        job = self.job()
        if not job.retry_of:
            return self.results()
        retried: JobHandle[T] = JobHandle(job.retry_of, self.app)
        return merge_results(retried.merged_results(), self.results())

    def cancel(self) -> None:
        """Ask the workers to cancel the job; requests that already ran keep their results."""
        self._rt.store.request_cancel(self.id)
        self._rt.send("batchline.cancel_job", self.id)

    def delete(self) -> int:
        """Remove the job and its results from Redis (provider batches are left alone)."""
        return self._rt.store.delete(self.id)


def get_job(job_id: str, app: Celery | None = None) -> JobHandle[Any]:
    """A handle on an existing job; ``JobNotFoundError`` if there is none."""
    handle: JobHandle[Any] = JobHandle(job_id, app)
    handle.job()
    return handle


def list_jobs(limit: int = 20, app: Celery | None = None) -> list[Job]:
    """The most recent jobs, newest first (expired records are skipped and pruned)."""
    rt = _runtime(app or _default_app())
    jobs: list[Job] = []
    for job_id in rt.store.list_ids(limit=limit):
        if rt.store.exists(job_id):
            jobs.append(rt.store.load(job_id))
        else:
            rt.redis.zrem(rt.keys.jobs, job_id)
    return jobs


def _iso(value: float) -> str | None:
    return datetime.fromtimestamp(value, UTC).isoformat() if value else None
