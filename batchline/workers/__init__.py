"""batchline's workers: a Celery + Redis service that submits, polls, stores and calls back.

``enqueue_batch`` queues a job and returns a ``JobHandle``; workers (``batchline worker``) and
one beat (``batchline beat``) do the rest. The Celery app itself is ``batchline.workers.app``;
``install(app)`` puts the same tasks on a Celery app of your own.
"""

from batchline.errors import JobNotFoundError
from batchline.workers.api import (
    JobHandle,
    JobSummary,
    cancel_orphans,
    enqueue_batch,
    get_job,
    list_jobs,
    list_orphans,
)
from batchline.workers.budget import estimate_job_cost
from batchline.workers.callbacks import verify_signature
from batchline.workers.callbackspec import (
    CallbackSpec,
    function,
    on_batch_complete,
    task,
    webhook,
)
from batchline.workers.installing import install
from batchline.workers.jobs import (
    OUTCOME_STATES,
    RESULTS_READY_STATES,
    TERMINAL_STATES,
    JobState,
)
from batchline.workers.settings import WorkerSettings

__all__ = [
    "OUTCOME_STATES",
    "RESULTS_READY_STATES",
    "TERMINAL_STATES",
    "CallbackSpec",
    "JobHandle",
    "JobNotFoundError",
    "JobState",
    "JobSummary",
    "WorkerSettings",
    "cancel_orphans",
    "enqueue_batch",
    "estimate_job_cost",
    "function",
    "get_job",
    "install",
    "list_jobs",
    "list_orphans",
    "on_batch_complete",
    "task",
    "verify_signature",
    "webhook",
]
