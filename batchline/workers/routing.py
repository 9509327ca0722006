"""Which Celery queue each of batchline's tasks goes to, so that no backlog delays a running job.

Three queues under ``BATCHLINE_QUEUE`` (``batchline`` by default):

- ``batchline`` takes ``submit_job``: new jobs, which may back up by the thousand;
- ``batchline.finish`` takes ``complete_job``, ``run_callback`` and ``cancel_job``: work on
  jobs already running or ended, which a submission backlog must never delay;
- ``batchline.poll`` takes the beat ticks (``poll_provider``), which expire when late.

A worker consumes all three (``consumed_queues``); Celery's Redis transport rotates between
the queues it reads, so each gets its turn however long another one is. Workers may also be
split by queue (``batchline worker --queues batchline.finish,batchline.poll``).
"""

from __future__ import annotations

from batchline.workers.tasknames import (
    CANCEL_JOB,
    COMPLETE_JOB,
    POLL_PROVIDER,
    RUN_CALLBACK,
    SUBMIT_JOB,
)

#: Suffix of the queue of each task that does not go to the base queue.
_SUFFIXES: dict[str, str] = {
    COMPLETE_JOB: ".finish",
    RUN_CALLBACK: ".finish",
    CANCEL_JOB: ".finish",
    POLL_PROVIDER: ".poll",
}


def routes(base: str) -> dict[str, dict[str, str]]:
    """Celery's ``task_routes`` for batchline's tasks."""
    names = (SUBMIT_JOB, *_SUFFIXES)
    return {name: {"queue": queue_of(name, base)} for name in names}


def queue_of(task_name: str, base: str) -> str:
    """The queue ``task_name`` is sent to, given ``BATCHLINE_QUEUE``."""
    return base + _SUFFIXES.get(task_name, "")


def consumed_queues(base: str) -> list[str]:
    """Every queue a batchline worker consumes by default, new work last."""
    return [f"{base}.poll", f"{base}.finish", base]
