"""Finding the provider batch an interrupted submit left behind, by the mark it carries.

Every shard's batch is marked twice: batchline's job id and shard in the batch metadata, and a
prefix every custom id shares (``{job_id}-{shard}-``). Each provider reads whichever evidence
it keeps (``Provider.find_marked``): OpenAI its metadata, Vertex its labels and display name,
Anthropic, which keeps no batch metadata, the custom ids. See README "Anthropic: what
reconciliation can and cannot do".
"""

from __future__ import annotations

import logging
import time
from typing import Any

from batchline.batching.processor import BatchProcessor
from batchline.batching.providers.base import BatchInfo, BatchMark
from batchline.errors import BatchlineError, ClaimPending
from batchline.workers.jobs import Job, Shard, custom_id_prefix
from batchline.workers.ratelimit import CallKind, list_pages
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

    A provider whose evidence cannot be read yet (Anthropic's custom ids, readable only once a
    batch has ended) reports such batches as undecided; while one that could be ours is still
    processing, this raises ``ClaimPending`` rather than risk paying twice.
    """
    provider = processor.provider
    scan_pages = list_pages(rt.settings.reconcile_scan, provider.list_page_size)
    rt.limiter.acquire(job.provider, kind=CallKind.SUBMIT, calls=scan_pages)
    found = provider.find_marked(shard_mark(job.id, shard.index), limit=rt.settings.reconcile_scan)
    # A batch Redis records as another shard's is that shard's, whatever it looks like: only
    # batches no job knows can be this claim's lost one.
    others = _owned_elsewhere(rt, job, shard, [*found.matching, *found.undecided])
    candidates = [b for b in found.matching if b.id not in others]
    undecided = [
        b for b in found.undecided if b.id not in others and _could_be_ours(b, shard, claimed_at)
    ]
    if not candidates and undecided:
        deadline = claim_deadline(rt, provider.recognisable_within, claimed_at)
        left = deadline - time.time()
        if left > 0:
            raise ClaimPending(
                f"shard {shard.index}: {len(undecided)} {job.provider} batch(es) no job knows, "
                "created after the claim, are still processing; their owner is known once "
                f"they end (waiting up to {left:.0f} s more)",
                retry_in=min(max(rt.settings.poll_interval, 1.0), left),
            )
        # Any batch of ours would have ended (and become recognisable) by now.
        logger.warning(
            "job=%s shard=%d: %d undecided batch(es) past the claim's deadline are not ours",
            job.id,
            shard.index,
            len(undecided),
        )
    if not candidates:
        return None
    candidates.sort(key=lambda info: info.created_at.timestamp() if info.created_at else 0.0)
    for extra in candidates[1:]:
        cancel_duplicate(rt, job, shard.index, extra.id, f"{candidates[0].id} is older")
    return candidates[0].id


def claim_deadline(rt: Runtime, recognisable_within: float, claimed_at: float) -> float:
    """When an undecided claim stops waiting: the submit grace (the call may still report
    back) plus the longest the provider's batch can take to become recognisable."""
    return claimed_at + rt.settings.submit_grace + recognisable_within


def _owned_elsewhere(rt: Runtime, job: Job, shard: Shard, infos: list[BatchInfo]) -> set[str]:
    owners = rt.store.owners(job.provider, [info.id for info in infos])
    return {batch_id for batch_id, owner in owners.items() if owner != (job.id, shard.index)}


def shard_mark(job_id: str, shard: int) -> BatchMark:
    """What the batch of one shard carries: its job and shard as metadata, and the prefix of
    its requests' custom ids."""
    return BatchMark(
        metadata={META_JOB: job_id, META_SHARD: str(shard)},
        custom_id_prefix=custom_id_prefix(job_id, shard),
    )


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
        rt.cancel_batch(job.provider, batch_id)
    except BatchlineError as exc:
        message = (
            f"shard {shard}: duplicate provider batch {batch_id} could not be cancelled: {exc}"
        )
    rt.store.record_error(job.id, message)
