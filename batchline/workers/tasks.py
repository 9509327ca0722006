"""batchline's Celery tasks. Each is thin: load the job, call one step, decide on a retry.

Arguments are ids only (the job id first, then the provider and model as keywords the tasks
ignore, for Flower): never requests, results or credentials, which Flower and the broker would
show to anyone who can read them. Every task may run twice.

What Flower shows is the truth: a task that fails its job's step for good raises
``JobTaskFailed`` after recording the failure on the job, so Celery stores FAILURE with the
reason (a returned string would be a green SUCCESS). The beat tick sends no task events at
all: almost every tick finds nothing to do, and a visible one every interval per provider
would bury the job tasks; the work a tick finds shows up as the job's ``complete_job`` task.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, NoReturn

from celery import Task as CeleryTask

from batchline.batching.results import ErrorType
from batchline.errors import (
    BatchlineError,
    ClaimPending,
    JobNotFoundError,
    JobTaskFailed,
    ProviderRetryableError,
    SubmitBudgetBusy,
)
from batchline.workers import callbacks, completion, polling, submission, sweep
from batchline.workers.callbacks import FireResult
from batchline.workers.jobs import JobState
from batchline.workers.runtime import Runtime
from batchline.workers.tasknames import (
    CANCEL_JOB,
    COMPLETE_JOB,
    POLL_PROVIDER,
    RUN_CALLBACK,
    SUBMIT_JOB,
    SWEEP_JOBS,
)

if TYPE_CHECKING:
    from celery import Celery, Task

logger = logging.getLogger("batchline.workers")

__all__ = [
    "CANCEL_JOB",
    "COMPLETE_JOB",
    "POLL_PROVIDER",
    "RUN_CALLBACK",
    "SUBMIT_JOB",
    "SWEEP_JOBS",
    "register_tasks",
]


class _NoEvents:
    """An event dispatcher that drops what it is given: the sender side of a silent task."""

    def publish(self, *_: Any, **__: Any) -> None:
        return None


class SilentTask(CeleryTask):  # type: ignore[misc]
    """A task that sends no events: none from the worker (``send_events``) and no
    ``task-sent`` from its sender (beat), which ``task_send_sent_event`` would send for every
    task of the app. Per task, so the user's own tasks keep their events."""

    send_events = False

    def apply_async(self, *args: Any, **options: Any) -> Any:
        options.setdefault("event_dispatcher", _NoEvents())
        return super().apply_async(*args, **options)


def _runtime_of(app: Celery) -> Runtime:
    runtime: Runtime = app.runtime  # type: ignore[attr-defined]
    return runtime


def _runtime(task: Task) -> Runtime:
    runtime: Runtime = task.app.runtime  # type: ignore[attr-defined]
    return runtime


#: batchline's safety settings, per task so that an app batchline is installed into keeps its
#: own defaults for its other tasks: acknowledge after the task ran (a worker that dies
#: mid-task leaves the message to be redelivered), JSON only (pickle is code execution for
#: whoever can write to the broker).
JOB_TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "serializer": "json",
}


def register_tasks(app: Celery) -> None:
    """Define batchline's tasks on ``app`` (each app gets its own, bound to its settings).

    ``app.runtime`` must be set: the time limits come from its settings, per task, like
    ``JOB_TASK_OPTIONS``, so that an app batchline is installed into keeps its own.
    """
    limit = _runtime_of(app).settings.task_time_limit
    options: dict[str, Any] = {
        **JOB_TASK_OPTIONS,
        "time_limit": limit,
        "soft_time_limit": max(1, limit - 60),
        "track_started": True,
    }

    @app.task(bind=True, name=SUBMIT_JOB, max_retries=None, shared=False, **options)
    def submit_job(
        self: Task,
        job_id: str,
        failures: int = 0,
        give_up: str = "",
        error_type: str = "",
        **shown: str,
    ) -> str:
        """Split the job into provider batches and create them (claim, call, record).

        ``failures`` counts real errors only: waiting on an undecided claim (``ClaimPending``)
        is not failing and never spends ``BATCHLINE_MAX_RETRIES``. ``give_up`` (with the
        ``error_type`` its requests get) is set once they are spent while some claim was still
        undecided: the retry then only settles the claims, and submits nothing.
        """
        rt = _runtime(self)
        state: dict[str, Any] = {
            **shown,
            "failures": failures,
            "give_up": give_up,
            "error_type": error_type,
        }
        try:
            if give_up:
                kind = ErrorType(error_type) if error_type else None
                submission.fail_pending_shards(rt, job_id, give_up, kind)
                raise JobTaskFailed(f"job {job_id} failed at submission: {give_up}")
            try:
                result = submission.submit_job(rt, job_id)
            except (JobNotFoundError, ClaimPending, SubmitBudgetBusy):
                raise
            except Exception as exc:
                failure = submission.failure_type(exc)

                def end_pending(message: str) -> None:
                    state.update(give_up=message, error_type=failure.value)
                    submission.fail_pending_shards(rt, job_id, message, failure)

                _retry_or(self, rt, job_id, exc, end_pending, attempt=failures)
        except JobNotFoundError:
            logger.warning("job=%s vanished before submission", job_id)
            return "missing"
        except ClaimPending as exc:
            logger.info("job=%s: %s", job_id, exc)
            rt.store.heartbeat(job_id)  # alive and waiting: the sweep leaves this job be
            raise self.retry(countdown=exc.retry_in, exc=exc, kwargs=state) from None
        except SubmitBudgetBusy as exc:
            # Not a failed attempt: a fresh message, so waiting for the budget never uses up
            # the retries a real provider error may need.
            logger.debug("job=%s: %s", job_id, exc)
            rt.send(SUBMIT_JOB, rt.store.load(job_id), countdown=exc.retry_in)
            return "waiting_for_budget"
        job = rt.store.load(job_id)
        if job.outcome is JobState.FAILED and not job.submitted_at:
            raise JobTaskFailed(f"job {job_id} failed at submission: {job.last_error}")
        return result.value

    @app.task(
        bind=True,
        name=POLL_PROVIDER,
        shared=False,
        base=SilentTask,
        ignore_result=True,
        **options,
    )
    def poll_provider(self: Task, provider: str) -> dict[str, Any]:
        """One beat tick: poll every due shard of ``provider``."""
        rt = _runtime(self)
        report = polling.poll_provider(rt, provider)
        for item in report.resubmit:
            submission.resubmit_waiting(rt, item)
        return report.to_dict()

    @app.task(
        bind=True,
        name=SWEEP_JOBS,
        shared=False,
        base=SilentTask,
        ignore_result=True,
        **options,
    )
    def sweep_jobs(self: Task) -> dict[str, Any]:
        """Re-send the next step of every job that has not moved for ``stall_after``."""
        return sweep.sweep(_runtime(self)).to_dict()

    @app.task(bind=True, name=COMPLETE_JOB, max_retries=None, shared=False, **options)
    def complete_job(self: Task, job_id: str, **_shown: str) -> str:
        """Stream a finished job's results into Redis, then start its callbacks."""
        rt = _runtime(self)
        try:
            state = completion.complete_job(rt, job_id)
        except JobNotFoundError:
            return "missing"
        except Exception as exc:
            _retry_or(
                self, rt, job_id, exc, lambda m: completion.complete_job(rt, job_id, give_up=m)
            )
        job = rt.store.load(job_id)
        if job.outcome is JobState.FAILED and job.submitted_at:
            # The provider failed a batch: the silent poll tick saw it, this is the job's
            # first visible task since (a job refused at submission failed its submit task).
            raise JobTaskFailed(f"job {job_id} failed at the provider: {job.last_error}")
        return state.value

    @app.task(bind=True, name=RUN_CALLBACK, max_retries=None, shared=False, **options)
    def run_callback(self: Task, job_id: str, index: int, **_shown: str) -> str:
        """Fire one completion callback of a job, once."""
        rt = _runtime(self)
        outcome, error = callbacks.fire(
            rt, job_id, index, owner=str(self.request.id), attempt=self.request.retries
        )
        if outcome is FireResult.RETRY:
            raise self.retry(countdown=rt.backoff(self.request.retries), exc=Exception(error))
        if outcome is FireResult.FAILED:
            raise JobTaskFailed(f"job {job_id} callback {index} failed: {error}")
        return outcome.value

    @app.task(bind=True, name=CANCEL_JOB, max_retries=None, shared=False, **options)
    def cancel_job(self: Task, job_id: str, **_shown: str) -> str:
        """Cancel a job: before submission, or each of its provider batches."""
        rt = _runtime(self)
        try:
            return submission.cancel_job(rt, job_id).value
        except JobNotFoundError:
            return "missing"
        except Exception as exc:
            _retry_or(self, rt, job_id, exc, lambda m: rt.store.record_error(job_id, m))


def _retry_or(
    task: Task,
    rt: Runtime,
    job_id: str,
    exc: Exception,
    give_up: Any,
    *,
    attempt: int | None = None,
) -> NoReturn:
    """Retry ``task`` with exponential backoff, or after the last attempt call ``give_up``.

    Provider hiccups (429, 5xx, timeouts) are expected; an unexpected exception may be a bug
    or an outage and is retried the same way, so that a job always ends rather than stalls.
    ``attempt`` (0-based) is the number of real failures so far when the task counts them
    itself (default: Celery's retry count); the retry then carries ``failures=attempt + 1``.
    """
    counted = attempt is not None
    attempt = task.request.retries if attempt is None else attempt
    transient = isinstance(exc, ProviderRetryableError)
    # batchline's other errors (a response model workers cannot import, a missing credential,
    # a refused request) say that trying again cannot help.
    permanent = isinstance(exc, BatchlineError) and not transient
    log = logger.warning if transient else logger.exception
    log("%s attempt %d failed: %s", task.name, attempt + 1, exc)
    if not permanent and attempt + 1 < rt.settings.max_retries:
        kwargs = {**(task.request.kwargs or {}), "failures": attempt + 1} if counted else None
        # A retry on its way keeps the job driven: the sweep must not start a second chain.
        rt.store.heartbeat(job_id)
        raise task.retry(countdown=rt.backoff(attempt), exc=exc, kwargs=kwargs) from None
    message = f"gave up after {attempt + 1} attempt(s): {type(exc).__name__}: {exc}"
    give_up(message)
    raise JobTaskFailed(message) from exc
