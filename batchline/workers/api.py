"""The job API: ``enqueue_batch`` hands a job to the workers and returns a ``JobHandle``.

This is the public top of the workers' own layers: it builds on the stores, queueing and
retries, and nothing below imports it (only callback firing does, to hand out handles).

Enqueueing only writes to Redis and sends one small task message (the job id): no provider
call, no credential, no SDK import, so it takes milliseconds even for thousands of requests.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from batchline.batching.cost import Bill
from batchline.batching.options import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, RequestOptions
from batchline.batching.processor import split_model
from batchline.batching.providers import PROVIDERS
from batchline.batching.providers.base import (
    Message,
)
from batchline.batching.results import (
    RETRYABLE_ERRORS,
    BatchError,
    BatchSuccess,
    ErrorType,
    merge_results,
    result_from_dict,
)
from batchline.errors import (
    InvalidRequestError,
    JobFailedError,
    ResultsExpiredError,
    ResultsNotReadyError,
    UnknownProviderError,
)
from batchline.modelref import import_model, model_path
from batchline.pricing import PricesLike
from batchline.workers import codec
from batchline.workers.appbase import default_app
from batchline.workers.budget import estimate_job_cost, job_bill, summary_cost
from batchline.workers.callbackspec import CallbackSpec, CallbackStatus, as_spec
from batchline.workers.jobs import RESULTS_READY_STATES, TERMINAL_STATES, Job, JobState, Shard
from batchline.workers.orphans import Orphan, OrphanReport, find_orphans
from batchline.workers.orphans import cancel_orphans as cancel_all
from batchline.workers.queueing import new_job_id, queue_job
from batchline.workers.retry import first_job_ids, retry_failed
from batchline.workers.tasknames import CANCEL_JOB

if TYPE_CHECKING:
    from celery import Celery

    from batchline.workers.runtime import Runtime

T = TypeVar("T", bound=BaseModel)

#: What ``callbacks=`` accepts: a spec, a webhook URL or task name, or a decorated function.
CallbackLike = CallbackSpec | str | Callable[..., Any]


def _runtime(app: Celery) -> Runtime:
    runtime: Runtime = app.runtime  # type: ignore[attr-defined]
    return runtime


def enqueue_batch(
    model: str,
    response_model: type[T],
    messages: Iterable[Sequence[Message]],
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float | None = DEFAULT_TEMPERATURE,
    metadata: dict[str, str] | None = None,
    callbacks: Iterable[CallbackLike] = (),
    results_path: str | Path | None = None,
    requests_path: str | Path | None = None,
    provider_options: dict[str, Any] | None = None,
    app: Celery | None = None,
    max_cost: float | None = None,
) -> JobHandle[T]:
    """Queue one job: its requests go to Redis (or ``requests_path``), a task id to the broker.

    ``callbacks`` fire once the results are stored: ``@on_batch_complete`` functions, webhook
    URLs (``"https://..."`` or ``webhook(url)``), or Celery task names (``task(name)``).
    ``results_path`` asks workers to also write the results there as JSONL; ``requests_path``
    keeps the requests in a file instead of Redis. Both must be on storage the workers share.
    ``max_cost`` (or the ``BATCHLINE_MAX_COST`` setting) refuses, before anything is queued,
    a job whose upper cost estimate is over it (``BudgetExceededError``); the messages are
    then read into a list first, to be estimated and queued.
    """
    provider, _ = split_model(model)
    if provider not in PROVIDERS:
        raise UnknownProviderError(
            f"unknown provider {provider!r}: use one of {', '.join(sorted(PROVIDERS))}"
        )
    response_path = model_path(response_model)
    _check_schema(response_model)
    RequestOptions(
        max_tokens=max_tokens, temperature=temperature
    )  # checks them, as the library does
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
        callbacks=[as_spec(value) for value in callbacks],
        requests_path=str(Path(requests_path).resolve()) if requests_path else "",
        results_path=str(Path(results_path).resolve()) if results_path else "",
    )
    celery_app = app or default_app()
    budget = max_cost if max_cost is not None else _runtime(celery_app).settings.max_cost
    if budget is not None:
        messages = list(messages)
        estimate_job_cost(
            model,
            response_model,
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            provider_options=provider_options,
            settings=_runtime(celery_app).settings,
        ).check_budget(budget)
    queue_job(_runtime(celery_app), job, messages)
    return JobHandle(job.id, celery_app)


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
    """A job at a glance: what callbacks receive and ``batchline jobs show`` prints.

    Its fields are the job record's (copied by name, so a field added to both needs no
    code), with timestamps as ISO 8601, each shard as a dict and each callback's state.
    """

    id: str
    state: JobState
    outcome: JobState | None
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
    #: The bill from usage (``Bill.to_dict``) once the results are stored, else ``None``.
    cost: dict[str, Any] | None = None

    @classmethod
    def of(cls, job: Job, shards: list[Shard], callbacks: list[CallbackStatus]) -> JobSummary:
        values: dict[str, Any] = {
            field.name: getattr(job, field.name)
            for field in fields(cls)
            if hasattr(job, field.name)
        }
        values.update({name: _iso(getattr(job, name)) for name in _TIMESTAMPS})
        values["shards"] = [_shard_summary(shard) for shard in shards]
        values["callbacks"] = [codec.plain(status) for status in callbacks]
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: states as their names (as webhooks and task callbacks receive it)."""
        data: dict[str, Any] = codec.plain(self)
        return data


#: The summary's fields that are timestamps (epoch seconds in the record, ISO 8601 here).
_TIMESTAMPS = ("created_at", "submitted_at", "finished_at", "updated_at")
#: A shard's fields shown in a summary, beside its ``requests`` (its size).
_SHARD_FIELDS = (
    "index",
    "batch_id",
    "state",
    "status",
    "provider_status",
    "counts",
    "error",
    "capacity_waits",
)


def _shard_summary(shard: Shard) -> dict[str, Any]:
    return {**{name: getattr(shard, name) for name in _SHARD_FIELDS}, "requests": shard.size}


class JobHandle(Generic[T]):
    """A job in the workers' hands: its state, its results once stored, and cancel.

    ``id`` is the job's id (16 hex characters): keep it to find the job again later with
    ``get_job(id)`` or ``batchline jobs show ID``; it also starts every custom id of the
    job's provider requests, and callbacks and webhooks carry it.
    """

    def __init__(self, job_id: str, app: Celery | None = None) -> None:
        #: The job's id, as ``enqueue_batch`` made it (see the class docstring).
        self.id: str = job_id
        self.app = app or default_app()
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
        summary = JobSummary.of(job, rt.store.load_shards(job), rt.callbacks.states(job.id))
        summary.cost = summary_cost(rt, job)
        return summary

    def wait(
        self, timeout: float | None = None, *, callbacks: bool = False, interval: float = 0.05
    ) -> JobState:
        """Block until the results are stored (or, with ``callbacks=True``, until every
        callback has ended); return the state.

        Requests the provider failed are errors in ``results()``, as always. But a job the
        workers could not run at all raises instead, so that it cannot pass for a finished
        one: requests that came back as ``configuration_error`` (a response model the workers
        cannot import, a missing credential) or, with ``callbacks=True``, a callback they
        cannot import.

        Raises:
            JobFailedError: the workers could not run the job (or a callback); the reason
                says what to fix.
            TimeoutError: the job did not get there within ``timeout`` seconds.
        """
        targets = TERMINAL_STATES if callbacks else RESULTS_READY_STATES
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = interval
        while True:
            state = self.status()
            if state in targets:
                self._raise_if_not_run(callbacks=callbacks)
                return state
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.id} is still {state.value} after {timeout} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def cost(self, prices: PricesLike = None) -> Bill:
        """What the job cost: the tokens the provider reported for its results, priced at
        batch and live list prices. Raises ``ResultsNotReadyError`` before its results are
        stored, ``NoPriceError`` when its model has no price."""
        job = self.job()
        bill = job_bill(self._rt, job, prices)
        if bill is None:
            raise ResultsNotReadyError(
                f"job {self.id} is {job.state.value}: its cost is known once results are stored"
            )
        return bill

    def _raise_if_not_run(self, *, callbacks: bool) -> None:
        """``JobFailedError`` when a local mistake kept the job (or a callback) from running."""
        job = self.job()
        local = ErrorType.CONFIGURATION_ERROR.value
        unsent = job.counts.get(local, 0)
        if unsent:
            raise JobFailedError(
                self.id,
                f"{unsent:,} of {job.request_count:,} request(s) never ran: {job.last_error}",
            )
        if callbacks:
            for entry in self._rt.callbacks.states(self.id):
                if entry.error_type == local:
                    raise JobFailedError(
                        self.id, f"callback {entry.target} failed: {entry.last_error}"
                    )

    def results(self) -> list[BatchSuccess[T] | BatchError]:
        """Every request's typed result, in request order."""
        return list(self.iter_results())

    def iter_results(self) -> Iterator[BatchSuccess[T] | BatchError]:
        """Stream the typed results from Redis in request order, a chunk at a time."""
        rt = self._rt
        job = rt.store.load(self.id)
        if job.state not in RESULTS_READY_STATES:
            raise ResultsNotReadyError(
                f"job {self.id} is {job.state.value}: results are stored once it ends"
            )
        response_model: type[T] = import_model(job.response_model)  # type: ignore[assignment]
        to_first = first_job_ids(rt, job)
        shards = rt.store.load_shards(job)
        for data in rt.results.iter_stored(job, shards, rt.settings.results_chunk_size):
            if data.get("missing"):
                raise ResultsExpiredError(
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
        specs = None if callbacks is None else [as_spec(c) for c in callbacks]
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
        self._rt.send(CANCEL_JOB, self.job())

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
    rt = _runtime(app or default_app())
    jobs: list[Job] = []
    for job_id in rt.store.list_ids(limit=limit):
        if rt.store.exists(job_id):
            jobs.append(rt.store.load(job_id))
        else:
            rt.store.forget(job_id)
    return jobs


def list_orphans(
    providers: Iterable[str] | None = None, *, scan: int | None = None, app: Celery | None = None
) -> OrphanReport:
    """Provider batches that carry batchline's mark but that no job record knows (what a lost
    Redis leaves running), among each provider's ``scan`` most recent batches."""
    return find_orphans(_runtime(app or default_app()), providers, scan=scan)


def cancel_orphans(orphans: Iterable[Orphan], app: Celery | None = None) -> list[Orphan]:
    """Cancel the orphans still running (``list_orphans(...).orphans``)."""
    return cancel_all(_runtime(app or default_app()), orphans)


def _iso(value: float) -> str | None:
    return datetime.fromtimestamp(value, UTC).isoformat() if value else None
