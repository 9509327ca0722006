"""batchline's Celery tasks. Each is thin: load the job, call one step, decide on a retry.

Arguments are ids only (the job id first): never requests, results or credentials, which
Flower and the broker would show to anyone who can read them. Every task may run twice.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from batchline.batching.results import ErrorType
from batchline.errors import (
    BatchlineError,
    ClaimPending,
    JobNotFoundError,
    ProviderRetryableError,
)
from batchline.workers import callbacks, completion, polling, submission, sweep
from batchline.workers.callbacks import FireResult
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


def _runtime(task: Task) -> Runtime:
    runtime: Runtime = task.app.runtime  # type: ignore[attr-defined]
    return runtime


def register_tasks(app: Celery) -> None:
    """Define batchline's tasks on ``app`` (each app gets its own, bound to its settings)."""

    @app.task(bind=True, name=SUBMIT_JOB, max_retries=None, shared=False)
    def submit_job(
        self: Task, job_id: str, failures: int = 0, give_up: str = "", error_type: str = ""
    ) -> str:
        """Split the job into provider batches and create them (claim, call, record).

        ``failures`` counts real errors only: waiting on an undecided claim (``ClaimPending``)
        is not failing and never spends ``BATCHLINE_MAX_RETRIES``. ``give_up`` (with the
        ``error_type`` its requests get) is set once they are spent while some claim was still
        undecided: the retry then only settles the claims, and submits nothing.
        """
        rt = _runtime(self)
        state: dict[str, Any] = {"failures": failures, "give_up": give_up, "error_type": error_type}
        try:
            if give_up:
                kind = ErrorType(error_type) if error_type else None
                submission.fail_pending_shards(rt, job_id, give_up, kind)
                return "gave_up"
            try:
                return submission.submit_job(rt, job_id).value
            except (JobNotFoundError, ClaimPending):
                raise
            except Exception as exc:
                failure = submission.failure_type(exc)

                def end_pending(message: str) -> None:
                    state.update(give_up=message, error_type=failure.value)
                    submission.fail_pending_shards(rt, job_id, message, failure)

                return _retry_or(self, rt, job_id, exc, end_pending, attempt=failures)
        except JobNotFoundError:
            logger.warning("job=%s vanished before submission", job_id)
            return "missing"
        except ClaimPending as exc:
            logger.info("job=%s: %s", job_id, exc)
            rt.store.heartbeat(job_id)  # alive and waiting: the sweep leaves this job be
            raise self.retry(countdown=exc.retry_in, exc=exc, kwargs=state) from None

    @app.task(bind=True, name=POLL_PROVIDER, shared=False)
    def poll_provider(self: Task, provider: str) -> dict[str, Any]:
        """One beat tick: poll every due shard of ``provider``."""
        rt = _runtime(self)
        report = polling.poll_provider(rt, provider)
        for item in report.resubmit:
            submission.resubmit_waiting(rt, item)
        return report.to_dict()

    @app.task(bind=True, name=SWEEP_JOBS, shared=False)
    def sweep_jobs(self: Task) -> dict[str, Any]:
        """Re-send the next step of every job that has not moved for ``stall_after``."""
        return sweep.sweep(_runtime(self)).to_dict()

    @app.task(bind=True, name=COMPLETE_JOB, max_retries=None, shared=False)
    def complete_job(self: Task, job_id: str) -> str:
        """Stream a finished job's results into Redis, then start its callbacks."""
        rt = _runtime(self)
        try:
            return completion.complete_job(rt, job_id).value
        except JobNotFoundError:
            return "missing"
        except Exception as exc:
            return _retry_or(
                self, rt, job_id, exc, lambda m: completion.complete_job(rt, job_id, give_up=m)
            )

    @app.task(bind=True, name=RUN_CALLBACK, max_retries=None, shared=False)
    def run_callback(self: Task, job_id: str, index: int) -> str:
        """Fire one completion callback of a job, once."""
        rt = _runtime(self)
        outcome, error = callbacks.fire(
            rt, job_id, index, owner=str(self.request.id), attempt=self.request.retries
        )
        if outcome is FireResult.RETRY:
            raise self.retry(countdown=rt.backoff(self.request.retries), exc=Exception(error))
        return outcome.value

    @app.task(bind=True, name=CANCEL_JOB, max_retries=None, shared=False)
    def cancel_job(self: Task, job_id: str) -> str:
        """Cancel a job: before submission, or each of its provider batches."""
        rt = _runtime(self)
        try:
            return submission.cancel_job(rt, job_id).value
        except JobNotFoundError:
            return "missing"
        except Exception as exc:
            return _retry_or(self, rt, job_id, exc, lambda m: rt.store.record_error(job_id, m))


def _retry_or(
    task: Task,
    rt: Runtime,
    job_id: str,
    exc: Exception,
    give_up: Any,
    *,
    attempt: int | None = None,
) -> str:
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
        kwargs = {"failures": attempt + 1} if counted else None
        # A retry on its way keeps the job driven: the sweep must not start a second chain.
        rt.store.heartbeat(job_id)
        raise task.retry(countdown=rt.backoff(attempt), exc=exc, kwargs=kwargs) from None
    message = f"gave up after {attempt + 1} attempt(s): {type(exc).__name__}: {exc}"
    give_up(message)
    return "gave_up"
