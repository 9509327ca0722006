"""Putting a job in the workers' hands: store its requests, then its record, then send its
submit task.

Below the job API (``enqueue_batch``) and retries (``retry_failed``), which both build a
``Job`` record and hand it here.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path

from kombu.exceptions import OperationalError

from batchline.batching.providers.base import Message
from batchline.errors import InvalidRequestError
from batchline.workers.jobs import Job, log_state_change
from batchline.workers.payloads import encode_requests, write_requests_file
from batchline.workers.runtime import Runtime
from batchline.workers.tasknames import SUBMIT_JOB

logger = logging.getLogger("batchline.workers")


def new_job_id() -> str:
    """16 hex characters: unique enough, and short enough for Anthropic's 64-char custom ids."""
    return secrets.token_hex(8)


def queue_job(
    rt: Runtime,
    job: Job,
    messages: Iterable[Sequence[Message]],
    *,
    retry_ids: Sequence[str] = (),
) -> None:
    """Store ``job`` with its requests, then send its submit task.

    Requests stream into Redis (or the file) a chunk at a time, so memory stays flat however
    many there are; the job record is written last, in one round trip with the retry ids, so
    no worker and no ``jobs list`` ever sees a job whose requests are not all there yet.

    ``retry_ids`` (for a job that retries another's failed requests) are the original custom
    ids of its requests, in order, kept beside it so its results can carry them.
    """
    encoded = encode_requests(messages)
    if job.requests_path:
        count = write_requests_file(job.requests_path, encoded)
    else:
        count = rt.requests.push(job.id, encoded)
    if count == 0:
        if job.requests_path:
            Path(job.requests_path).unlink(missing_ok=True)
        raise InvalidRequestError("messages is empty: a job needs at least one request")
    job.request_count = count
    with rt.store.batch() as pipe:
        rt.requests.push_retry_ids(pipe, job.id, retry_ids)
        if not job.requests_path:
            rt.requests.adopt(pipe, job.id)
        rt.store.create(job, pipe)
    log_state_change(job, None)
    try:
        rt.send(SUBMIT_JOB, job)
    except OperationalError as exc:
        # The record is written, so the job exists: the sweep submits it once the broker is
        # back (within BATCHLINE_STALL_AFTER plus one sweep). Raising here would invite the
        # caller to enqueue the same requests again and pay for them twice.
        logger.warning(
            "job=%s recorded but its submit task could not be sent (%s); the sweep will "
            "submit it within %.0f s",
            job.id,
            exc,
            rt.settings.stall_after + rt.settings.sweep_interval,
        )
