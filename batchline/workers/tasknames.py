"""The names of batchline's Celery tasks, in one low-level module every layer may import.

Tasks are sent by name (``Runtime.send``), so the modules that send them never import the
module that defines them; this module is what they share instead of string literals.
"""

from __future__ import annotations

#: Split a job into provider batches and create them.
SUBMIT_JOB = "batchline.submit_job"
#: One beat tick: poll every due shard of one provider.
POLL_PROVIDER = "batchline.poll_provider"
#: Store a finished job's results, then start its callbacks.
COMPLETE_JOB = "batchline.complete_job"
#: Fire one completion callback of a job.
RUN_CALLBACK = "batchline.run_callback"
#: Cancel a job, before submission or at the provider.
CANCEL_JOB = "batchline.cancel_job"
#: Re-send the next step of every job that has not moved for ``BATCHLINE_STALL_AFTER``.
SWEEP_JOBS = "batchline.sweep_jobs"
