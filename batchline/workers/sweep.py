"""Re-driving stalled jobs: the job records are the source of truth, the broker only wakes.

Every forward step of a job rides on one broker message (``submit_job`` at enqueue,
``complete_job`` from the poll that ended the last shard, one ``run_callback`` per
callback). kombu's Redis transport can lose a message (a worker killed between popping it and
recording it as unacknowledged, or a Redis restart losing its last writes), and a process can
die between writing a record and sending its task. Either way the job would wait forever.

So a periodic sweep (``batchline.sweep_jobs``, one beat entry) reads the index of jobs not yet
terminal (``keys.active``) and, for each job that has not changed for ``stall_after`` seconds,
sends its next step again. Every step is safe to run twice (compare-and-set on the state,
claims before paid calls, a marker per callback), so a message that was only slow costs a
duplicate task that does nothing. Two sweeps at once (two beats) are safe too: each job's
"last driven" stamp is moved by compare-and-set, and only the sweep that moves it re-drives.

A job whose message was lost is therefore re-driven within ``stall_after + sweep_interval``
seconds of its last change (see docs/workers.md, "What is guaranteed").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from batchline.errors import JobNotFoundError
from batchline.workers import polling
from batchline.workers.jobs import OUTCOME_STATES, Job, JobState, ShardState
from batchline.workers.runtime import Runtime
from batchline.workers.tasknames import COMPLETE_JOB, SUBMIT_JOB

logger = logging.getLogger("batchline.workers")

_RUNNING = "running:"


@dataclass(slots=True)
class SweepReport:
    """What one sweep did; returned by the task (and shown in Flower)."""

    #: Jobs found without a change for ``stall_after`` seconds.
    stalled: int = 0
    #: ``job id -> what was re-sent`` for each job this sweep drove.
    redriven: dict[str, str] = field(default_factory=dict)
    #: Jobs another sweep drove first (its stamp moved under us).
    skipped: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"stalled": self.stalled, "redriven": self.redriven, "skipped": self.skipped}


def sweep(rt: Runtime, *, now: float | None = None) -> SweepReport:
    """Re-send the next step of every job that has not moved for ``stall_after`` seconds."""
    report = SweepReport()
    current = time.time() if now is None else now
    stall_after = rt.settings.stall_after
    store = rt.store
    for job_id, stamp in store.stale_active(current - stall_after, rt.settings.sweep_batch):
        try:
            job = store.load(job_id)
        except JobNotFoundError:  # expired or deleted
            store.deactivate(job_id)
            continue
        if job.state.is_terminal:
            store.deactivate(job_id)
            continue
        moved_at = max(stamp, job.updated_at, _callbacks_moved_at(rt, job))
        if current - moved_at < stall_after:
            # It moved since it was last driven: look again once it has been still long enough.
            store.mark_driven(job_id, stamp, moved_at)
            continue
        report.stalled += 1
        if not store.mark_driven(job_id, stamp, current):
            report.skipped += 1
            continue
        action = redrive(rt, job)
        if action:
            report.redriven[job_id] = action
            logger.warning(
                "job=%s has been %s for %.0f s without a change: re-sent %s",
                job_id,
                job.state.value,
                current - moved_at,
                action,
            )
    return report


def redrive(rt: Runtime, job: Job) -> str:
    """Send the job's next step again; return what was sent ("" when nothing was lost)."""
    if job.state in (JobState.QUEUED, JobState.SUBMITTING):
        rt.send(SUBMIT_JOB, job)
        return "submit"
    if job.state is JobState.SUBMITTED:
        return _rewatch(rt, job)
    if job.state in OUTCOME_STATES:
        rt.send(COMPLETE_JOB, job)
        return "complete"
    if job.state is JobState.RESULTS_STORED:
        released = _release_lost_callbacks(rt, job)
        # Completion of a stored job only dispatches the callbacks not yet ended (or moves
        # the job to callbacks_done when none is left).
        rt.send(COMPLETE_JOB, job)
        return f"callbacks (released {released})" if released else "callbacks"
    return ""


def _rewatch(rt: Runtime, job: Job) -> str:
    """A submitted job is driven by polling, not by a message: put back any shard that fell
    out of the poll schedule (a crash between recording its batch and scheduling it), and
    finish a job whose last shard ended without handing it on."""
    restored = 0
    shards = rt.store.load_shards(job)
    for shard in shards:
        if shard.state is ShardState.SUBMITTED:
            rt.store.record_owner(job.provider, shard.batch_id, job.id, shard.index)
        if shard.state in (ShardState.SUBMITTED, ShardState.PENDING):
            # A pending shard of a submitted job waits in the schedule too (for capacity).
            restored += rt.polls.ensure(job.provider, job.id, shard.index, time.time())
    if shards and all(s.state in (ShardState.ENDED, ShardState.STORED) for s in shards):
        polling.maybe_finish(rt, job.id, resend=True)
        return "complete"
    return f"poll ({restored} shard(s) rescheduled)" if restored else ""


def _release_lost_callbacks(rt: Runtime, job: Job) -> int:
    """Free the markers of callbacks whose owning task is gone, so a new task can take them.

    Only a job still for ``stall_after`` gets here, and a callback that is retrying records
    each attempt (and backs off less than that), so a marker still ``running`` now belongs to
    a task whose message was lost.
    """
    finished = rt.callbacks.finished(job.id)
    released = 0
    for index in range(len(job.callbacks)):
        if index in finished:
            continue
        marker = rt.callbacks.marker(job.id, index)
        if marker.startswith(_RUNNING):
            released += rt.callbacks.release(job.id, index, marker)
    return released


def _callbacks_moved_at(rt: Runtime, job: Job) -> float:
    if job.state is not JobState.RESULTS_STORED or not job.callbacks:
        return 0.0
    return max((status.updated_at for status in rt.callbacks.states(job.id)), default=0.0)
