"""Orphans: provider batches that carry batchline's mark but that no job record knows.

They are what a lost Redis leaves behind (a restart of a Redis that kept nothing on disk, a
flushed database, deleted jobs): batches that keep running and are paid for with nobody
waiting for their results. Each provider reads the mark its own way (``Provider.read_mark``,
the evidence reconciliation matches): OpenAI's metadata, Vertex's labels and display name,
Anthropic's custom ids (``{job_id}-{shard}-{index}``), which can only be read once a batch has
ended, so an Anthropic batch still processing that no job knows is reported as unverified,
never cancelled.

A batch is known when the batch-owner index names a job whose record exists, or the job its
mark names still has it as a shard's batch, or has that shard pending (a submit whose batch
is about to be adopted): listing never calls a batch in flight an orphan.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from batchline.batching.providers import PROVIDERS, provider_class
from batchline.batching.providers.base import BatchInfo, BatchMark
from batchline.batching.status import BatchStatus
from batchline.errors import BatchlineError, JobNotFoundError, ProviderRejected
from batchline.workers.jobs import ShardState
from batchline.workers.runtime import META_JOB, META_SHARD, Runtime

#: A batchline custom id: 16 hex characters of job id, the shard, the request index.
_CUSTOM_ID = re.compile(r"^([0-9a-f]{16})-(\d+)-\d+$")


@dataclass(slots=True)
class Orphan:
    """One provider batch batchline submitted that no job record knows."""

    provider: str
    batch_id: str
    #: The job and shard its mark names (their records are gone, or hold another batch).
    job_id: str
    shard: int
    status: BatchStatus
    provider_status: str
    #: Seconds since the provider created it (None when the provider does not say).
    age: float | None
    #: Set by ``cancel_orphans``: "cancelled", "ended" (nothing to cancel) or the error.
    cancel_result: str = ""


@dataclass(slots=True)
class OrphanReport:
    """What one search found, provider by provider."""

    orphans: list[Orphan] = field(default_factory=list)
    #: provider -> batches no job knows whose mark cannot be read yet (Anthropic, processing).
    unverified: dict[str, int] = field(default_factory=dict)
    #: provider -> why it was not searched (no credentials configured, or its API failed).
    skipped: dict[str, str] = field(default_factory=dict)


def find_orphans(
    rt: Runtime, providers: Iterable[str] | None = None, *, scan: int | None = None
) -> OrphanReport:
    """Search the ``scan`` most recent batches (default ``BATCHLINE_RECONCILE_SCAN``) of each
    provider with credentials (or of ``providers``) for orphans."""
    report = OrphanReport()
    limit = scan or rt.settings.reconcile_scan
    for name in providers or PROVIDERS:
        missing = provider_class(name).missing_settings(rt.settings)
        if missing:
            report.skipped[name] = f"not configured ({', '.join(missing)} unset)"
            continue
        try:
            _search(rt, name, limit, report)
        except BatchlineError as exc:
            report.skipped[name] = f"could not list its batches: {exc}"
    return report


def _search(rt: Runtime, name: str, limit: int, report: OrphanReport) -> None:
    provider = rt.provider(name)
    rt.limiter.acquire(name)
    infos = provider.list(limit=limit)
    owners = rt.store.owners(name, [info.id for info in infos])
    alive = rt.store.existing(sorted({job_id for job_id, _ in owners.values()}))
    marked: list[tuple[BatchInfo, str, int]] = []
    for info in infos:
        owner = owners.get(info.id)
        if owner is not None and owner[0] in alive:
            continue  # recorded by a job that still exists: known, no need to read its mark
        rt.limiter.acquire(name)
        mark = provider.read_mark(info)
        if mark is None:
            report.unverified[name] = report.unverified.get(name, 0) + 1
            continue
        found = job_of(mark)
        if found is not None:
            marked.append((info, *found))
    existing = rt.store.existing(sorted({job_id for _, job_id, _ in marked}))
    now = time.time()
    for info, job_id, shard in marked:
        if job_id in existing and _known_by(rt, job_id, shard, info.id):
            continue
        created = info.created_at.timestamp() if info.created_at else None
        report.orphans.append(
            Orphan(
                provider=name,
                batch_id=info.id,
                job_id=job_id,
                shard=shard,
                status=info.status,
                provider_status=info.provider_status,
                age=None if created is None else max(0.0, now - created),
            )
        )


def job_of(mark: BatchMark) -> tuple[str, int] | None:
    """The batchline job and shard a mark names, or None for a batch batchline did not make."""
    job_id = mark.metadata.get(META_JOB)
    shard = mark.metadata.get(META_SHARD, "")
    if job_id and shard.isdigit():
        return job_id, int(shard)
    matched = _CUSTOM_ID.match(mark.custom_id_prefix)
    if matched is not None:
        return matched[1], int(matched[2])
    return None


def _known_by(rt: Runtime, job_id: str, index: int, batch_id: str) -> bool:
    try:
        shard = rt.store.load_shard(job_id, index)
    except JobNotFoundError:
        return False
    return shard.batch_id == batch_id or shard.state is ShardState.PENDING


def cancel_orphans(rt: Runtime, orphans: Iterable[Orphan]) -> list[Orphan]:
    """Cancel each orphan still running; return them with ``cancel_result`` filled in."""
    done: list[Orphan] = []
    for orphan in orphans:
        if orphan.status.is_terminal:
            orphan.cancel_result = "ended"
        else:
            try:
                rt.cancel_batch(orphan.provider, orphan.batch_id)
                orphan.cancel_result = "cancelled"
            except ProviderRejected as exc:  # it ended meanwhile
                orphan.cancel_result = f"not cancelled: {exc}"
        done.append(orphan)
    return done
