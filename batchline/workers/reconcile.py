"""Finding the provider batch an interrupted submit left behind, by the job id it carries.

OpenAI keeps batchline's job id and shard in the batch's metadata, Vertex in its labels and
display name; Anthropic keeps no batch metadata, so its batches are recognised by the prefix
their requests' custom ids share (``{job_id}-{shard}-``). See README "Anthropic: what
reconciliation can and cannot do".
"""

from __future__ import annotations

import logging
from typing import Any

from batchline.batching.processor import BatchProcessor
from batchline.batching.providers.base import BatchInfo
from batchline.errors import BatchlineError, ClaimPending
from batchline.workers.jobs import Job, Shard, custom_id_prefix
from batchline.workers.runtime import META_JOB, META_SHARD, Runtime

logger = logging.getLogger("batchline.workers")


def reconcile(
    rt: Runtime,
    job: Job,
    processor: BatchProcessor[Any],
    shard: Shard,
    *,
    claimed_at: float,
) -> str | None:
    """Find the provider batch an interrupted attempt created for this shard, if any.

    OpenAI and Vertex keep batchline's metadata on the batch. Anthropic does not: a provider
    with ``find_by_custom_id_prefix`` is searched by its requests' custom id prefix instead,
    which can only be read once a batch has ended; while a batch that could be ours is still
    processing, this raises ``ClaimPending`` rather than risk paying twice.
    """
    provider = processor.provider
    scan = rt.settings.reconcile_scan
    rt.limiter.acquire(job.provider)
    finder = getattr(provider, "find_by_custom_id_prefix", None)
    if finder is None:
        candidates = [
            info
            for info in provider.find_by_metadata(META_JOB, job.id, limit=scan)
            if info.metadata.get(META_SHARD) == str(shard.index)
        ]
    else:
        matches = finder(custom_id_prefix(job.id, shard.index), limit=scan)
        candidates = list(matches.matching)
        undecided = [b for b in matches.undecided if _could_be_ours(b, shard, claimed_at)]
        if not candidates and undecided:
            raise ClaimPending(
                f"shard {shard.index}: {len(undecided)} {job.provider} batch(es) created after "
                "the claim are still processing; their owner is known once they end",
                retry_in=max(rt.settings.poll_interval, 1.0),
            )
    if not candidates:
        return None
    candidates.sort(key=lambda info: info.created_at.timestamp() if info.created_at else 0.0)
    for extra in candidates[1:]:
        cancel_duplicate(rt, job, shard.index, extra.id, f"{candidates[0].id} is older")
    return candidates[0].id


def _could_be_ours(info: BatchInfo, shard: Shard, claimed_at: float) -> bool:
    created = info.created_at.timestamp() if info.created_at else claimed_at
    total = info.request_counts.total
    return created >= claimed_at - 60 and total in (0, shard.size)


def cancel_duplicate(rt: Runtime, job: Job, shard: int, batch_id: str, reason: str) -> None:
    """Two attempts reached the provider for one shard: stop paying for the one not kept, and
    say so on the job."""
    message = f"shard {shard}: duplicate provider batch {batch_id} ({reason}), cancelled"
    logger.error("job=%s %s", job.id, message)
    try:
        rt.cancel_batch(job.provider, job.model, batch_id)
    except BatchlineError as exc:
        message = (
            f"shard {shard}: duplicate provider batch {batch_id} could not be cancelled: {exc}"
        )
    rt.store.record_error(job.id, message)
