"""Every Redis key batchline's workers write, in one place.

All keys start with ``settings.key_prefix`` so that tenants and tests can share one Redis and
clean up by prefix. Per-job keys share ``{prefix}:job:{id}`` so that one ``SCAN`` finds them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    # -- indexes ---------------------------------------------------------------------------
    @property
    def jobs(self) -> str:
        """Sorted set of every job id, scored by creation time (``jobs list``)."""
        return f"{self.prefix}:jobs"

    def pending(self, provider: str) -> str:
        """Sorted set of ``{job_id}:{shard}`` awaiting a poll, scored by next poll time."""
        return f"{self.prefix}:pending:{provider}"

    def poll_lock(self, provider: str) -> str:
        """Short lock that makes a second beat tick for the same provider a no-op."""
        return f"{self.prefix}:lock:poll:{provider}"

    @property
    def active(self) -> str:
        """Sorted set of every job not yet terminal, scored by when the sweep last drove it
        (its creation time at first): the sweep reads the oldest scores first."""
        return f"{self.prefix}:active"

    def batch_owners(self, provider: str) -> str:
        """Hash: provider batch id -> ``{job_id}:{shard}`` of the shard that recorded it, so
        that reconciliation and the orphan search know which batches a job already owns."""
        return f"{self.prefix}:batches:{provider}"

    def rate(self, provider: str, window: int) -> str:
        """Hash of provider calls in one rate window, in total and by kind (the shared limit)."""
        return f"{self.prefix}:rate:{provider}:{window}"

    def finishing(self, provider: str) -> str:
        """Short-lived marker: work that finishes jobs is calling this provider right now."""
        return f"{self.prefix}:rate:{provider}:finishing"

    # -- one job ---------------------------------------------------------------------------
    def job(self, job_id: str) -> str:
        """Hash: the job record (state, model, counts, timestamps, last error...)."""
        return f"{self.prefix}:job:{job_id}"

    def job_pattern(self, job_id: str) -> str:
        """Match every key of one job (for deletion)."""
        return f"{self.prefix}:job:{job_id}*"

    def requests(self, job_id: str) -> str:
        """List: one compact JSON array of messages per request, in request order."""
        return f"{self.prefix}:job:{job_id}:requests"

    def retry_claim(self, job_id: str) -> str:
        """String: the id of the job that retries this one's failed requests (at most one)."""
        return f"{self.prefix}:job:{job_id}:retry"

    def retry_ids(self, job_id: str) -> str:
        """List, on a retry job: the original custom id of each of its requests, in order."""
        return f"{self.prefix}:job:{job_id}:retry_ids"

    def shard(self, job_id: str, shard: int) -> str:
        """Hash: one shard (one provider batch): its request range, batch id, status, counts."""
        return f"{self.prefix}:job:{job_id}:shard:{shard}"

    def submit_claim(self, job_id: str, shard: int) -> str:
        """String, no TTL: ``claimed:<worker>:<time>`` before the paid call, then the batch id."""
        return f"{self.prefix}:job:{job_id}:shard:{shard}:submit"

    def results(self, job_id: str) -> str:
        """Hash: custom_id -> one result as JSON (``BatchSuccess/BatchError.to_dict``)."""
        return f"{self.prefix}:job:{job_id}:results"

    def unmatched(self, job_id: str) -> str:
        """List: result lines whose custom id belongs to no request of the job (capped)."""
        return f"{self.prefix}:job:{job_id}:unmatched"

    def callbacks(self, job_id: str) -> str:
        """Hash: callback index -> JSON of its state, attempts and last error."""
        return f"{self.prefix}:job:{job_id}:callbacks"

    def callback_marker(self, job_id: str, index: int) -> str:
        """String: ``running:<task>`` (with a lease) while a callback fires, then ``done``."""
        return f"{self.prefix}:job:{job_id}:callback:{index}"

    def callbacks_finished(self, job_id: str) -> str:
        """Set of callback indexes that ended (done or given up); all in = callbacks_done."""
        return f"{self.prefix}:job:{job_id}:callbacks_finished"

    def usage(self, job_id: str) -> str:
        """String: the job's token totals as JSON, summed once from its stored results."""
        return f"{self.prefix}:job:{job_id}:usage"
