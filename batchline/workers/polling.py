"""Watching provider batches: one beat tick per provider over a sorted set of pending shards.

Each pending shard is a member ``{job_id}:{shard}`` of the provider's poll schedule
(``stores.polls``), scored by when it should next be polled. A tick claims the due members by
pushing their score ``poll_lease`` seconds ahead (so two ticks never claim the same shard),
polls them, and writes the next poll time as the new score; it claims ``poll_batch`` at a time
until none is due. A poller that dies simply lets its lease run out.

With several shards due, one call to the provider's list endpoint answers most of them; only
the ones it does not show are fetched one by one.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

from batchline.batching.providers.base import BatchInfo, Provider
from batchline.batching.status import BatchStatus
from batchline.errors import BatchlineError, BatchNotFoundError, ProviderRetryableError
from batchline.workers.jobs import (
    OUTCOME_STATES,
    Job,
    JobState,
    Shard,
    ShardState,
    outcome_of,
)
from batchline.workers.runtime import Runtime
from batchline.workers.stores.base import Pipeline
from batchline.workers.stores.polls import member, parse_member
from batchline.workers.tasknames import COMPLETE_JOB

logger = logging.getLogger("batchline.workers")

#: Most batches one list call may ask for; beyond this, single gets are cheaper to reason about.
LIST_LIMIT = 1000
#: Times a shard is sent again after its batch failed over the enqueued-token quota, before
#: the shard fails for good. Waits double from one poll interval up to ``retry_backoff_max``.
MAX_CAPACITY_WAITS = 8
#: ``provider_status`` of a shard waiting for quota to free: the code the provider failed with.
CAPACITY_WAIT = "token_limit_exceeded"


@dataclass(slots=True)
class PollReport:
    """What one tick did; returned by the task (and shown in Flower)."""

    provider: str
    due: int = 0
    provider_calls: int = 0
    ended: list[str] = field(default_factory=list)
    errors: int = 0
    skipped: bool = False
    #: Shards whose wait for the provider's token quota is over: the task sends them again.
    resubmit: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "provider": self.provider,
            "due": self.due,
            "provider_calls": self.provider_calls,
            "ended": self.ended,
            "errors": self.errors,
            "skipped": self.skipped,
            "resubmit": self.resubmit,
        }


def schedule(
    rt: Runtime,
    provider: str,
    job_id: str,
    shard: int,
    *,
    delay: float,
    since: float | None = None,
    pipe: Pipeline | None = None,
) -> None:
    """(Re)schedule a shard's next poll ``delay`` seconds after ``since`` (default: now)."""
    start = time.time() if since is None else since
    rt.polls.schedule(provider, job_id, shard, start + delay, pipe)


def poll_provider(rt: Runtime, provider: str) -> PollReport:
    """One tick for one provider. A second tick while this one runs does nothing."""
    report = PollReport(provider)
    lock_key = rt.keys.poll_lock(provider)
    token = uuid.uuid4().hex
    lock_ms = max(100, int(min(rt.settings.poll_interval, 30.0) * 1000))
    if not rt.claims.take(lock_key, token, ttl_ms=lock_ms):
        report.skipped = True
        return report
    try:
        interval = rt.settings.poll_interval
        # Claims of poll_batch shards repeat until nothing is due, for up to half an interval,
        # so that more pending shards than poll_batch are still all polled at every tick. The
        # budget is on the clock the scores use, so no shard comes due twice within it.
        budget_end = time.time() + interval / 2
        while True:
            now = time.time()
            # The next poll is due one interval after this claim and ticks come every
            # interval: a shard due within half an interval is taken now rather than a whole
            # interval late (beat's ticks jitter by a few milliseconds either way).
            due = rt.polls.claim_due(
                provider,
                due_by=now + interval / 2,
                lease_until=now + rt.settings.poll_lease,
                limit=rt.settings.poll_batch,
            )
            report.due += len(due)
            if due:
                _poll(rt, provider, due, report, claimed_at=now)
            if len(due) < rt.settings.poll_batch or time.time() >= budget_end:
                break
    finally:
        rt.claims.compare_and_delete(lock_key, token)
    return report


def _poll(
    rt: Runtime, provider_name: str, due: list[str], report: PollReport, *, claimed_at: float
) -> None:
    pairs = [parse_member(item) for item in due]
    watched: list[tuple[Job, Shard]] = []
    for item, found in zip(due, rt.store.load_pairs(pairs), strict=True):
        if found is None:
            rt.polls.drop(provider_name, item)  # the job was deleted
        elif found[1].state is ShardState.SUBMITTED:
            watched.append(found)
        elif found[1].state is ShardState.PENDING and found[1].provider_status == CAPACITY_WAIT:
            report.resubmit.append(item)  # the task sends it again (submission sits above us)
        else:  # ended before a crash cut the last tick short: finish what it started
            maybe_finish(rt, found[0].id, resend=True)
            rt.polls.drop(provider_name, item)
    if not watched:
        return
    provider = rt.provider(provider_name)
    infos, failures = _fetch(rt, provider, [shard.batch_id for _, shard in watched], report)
    # Shards still running (nearly all, each tick) are written back in one round trip, due
    # again one interval after the claim, not after now: polling took time, and the next tick
    # comes one interval after this one (counted from now, it would skip every other tick).
    interval = rt.settings.poll_interval
    with rt.store.batch() as running:
        for job, shard in watched:
            info = infos.get(shard.batch_id)
            if info is None:
                _failed_poll(rt, job, shard, failures.get(shard.batch_id), report)
            elif over_capacity(info) and shard.capacity_waits < MAX_CAPACITY_WAITS:
                _wait_for_capacity(rt, job, shard, info)
            elif info.status.is_terminal:
                report.ended.append(member(job.id, shard.index))
                _end(
                    rt,
                    job,
                    shard,
                    status=info.status,
                    provider_status=info.provider_status,
                    error=info.error or "",
                    poll_failures=0,
                )
            else:
                rt.store.update_shard(
                    job.id,
                    shard.index,
                    running,
                    status=info.status,
                    provider_status=info.provider_status,
                    poll_failures=0,
                )
                schedule(
                    rt,
                    job.provider,
                    job.id,
                    shard.index,
                    delay=interval,
                    since=claimed_at,
                    pipe=running,
                )


def _fetch(
    rt: Runtime, provider: Provider, batch_ids: list[str], report: PollReport
) -> tuple[dict[str, BatchInfo], dict[str, BatchlineError]]:
    """Statuses of ``batch_ids``: one list call when it can answer several, then single gets."""
    infos: dict[str, BatchInfo] = {}
    failures: dict[str, BatchlineError] = {}
    wanted = set(batch_ids)
    if len(wanted) > 1:
        try:
            rt.limiter.acquire(provider.name)
            report.provider_calls += 1
            listed = provider.list(limit=min(2 * len(wanted) + 20, LIST_LIMIT))
            infos.update({info.id: info for info in listed if info.id in wanted})
        except BatchlineError as exc:
            logger.warning("listing %s batches failed: %s", provider.name, exc)
            return infos, dict.fromkeys(wanted, exc)
    for batch_id in wanted - set(infos):
        try:
            rt.limiter.acquire(provider.name)
            report.provider_calls += 1
            infos[batch_id] = provider.get(batch_id)
        except BatchlineError as exc:
            failures[batch_id] = exc
    return infos, failures


def _end(rt: Runtime, job: Job, shard: Shard, **fields: object) -> None:
    """A watched shard is over: record how, finish the job if it was the last, stop polling."""
    rt.store.transition_shard(
        job.id, shard.index, ShardState.ENDED, from_states=(ShardState.SUBMITTED,), **fields
    )
    maybe_finish(rt, job.id)
    rt.polls.drop(job.provider, member(job.id, shard.index))


def over_capacity(info: BatchInfo) -> bool:
    """Whether the batch failed only because the enqueued-token quota was full.

    OpenAI accepts such a batch and fails it in validation with ``token_limit_exceeded``
    (openai/openai-python#2084); nothing is wrong with the requests, so they are sent again.
    """
    if info.status is not BatchStatus.FAILED:
        return False
    errors = (info.raw.get("errors") or {}).get("data") or []
    return any(isinstance(e, dict) and e.get("code") == CAPACITY_WAIT for e in errors)


def _wait_for_capacity(rt: Runtime, job: Job, shard: Shard, info: BatchInfo) -> None:
    """Put the shard back to ``pending`` with its failed batch forgotten, and come back for it
    after a wait that doubles each time; ``_resubmit`` sends it then."""
    waits = shard.capacity_waits + 1
    moved = rt.store.transition_shard(
        job.id,
        shard.index,
        ShardState.PENDING,
        from_states=(ShardState.SUBMITTED,),
        batch_id="",
        status=None,
        provider_status=CAPACITY_WAIT,
        error=info.error or CAPACITY_WAIT,
        capacity_waits=waits,
    )
    if not moved:
        return
    # The claim still names the failed batch; without it the next submit makes a new one.
    rt.claims.compare_and_delete(rt.keys.submit_claim(job.id, shard.index), shard.batch_id)
    rt.store.record_error(
        job.id,
        f"shard {shard.index}: batch {shard.batch_id} failed over the enqueued-token quota; "
        f"sending it again ({waits} of {MAX_CAPACITY_WAITS})",
    )
    delay = min(rt.settings.poll_interval * 2**waits, rt.settings.retry_backoff_max)
    schedule(rt, job.provider, job.id, shard.index, delay=max(delay, rt.settings.poll_interval))


def _failed_poll(
    rt: Runtime, job: Job, shard: Shard, error: BatchlineError | None, report: PollReport
) -> None:
    report.errors += 1
    if isinstance(error, BatchNotFoundError):
        # The batch is gone (deleted at the provider): nothing more will ever come of it.
        _end(
            rt,
            job,
            shard,
            status=BatchStatus.FAILED,
            error=f"provider batch vanished: {error}",
        )
        return
    failures = shard.poll_failures + 1
    if error is not None and not isinstance(error, ProviderRetryableError):
        rt.store.record_error(job.id, f"polling shard {shard.index}: {error}")
    rt.store.update_shard(job.id, shard.index, poll_failures=failures)
    interval = rt.settings.poll_interval
    delay = min(interval * 2**failures, max(interval, rt.settings.retry_backoff_max))
    schedule(rt, job.provider, job.id, shard.index, delay=delay)


def maybe_finish(rt: Runtime, job_id: str, *, resend: bool = False) -> bool:
    """If every shard has ended, move the job to its outcome and hand it to completion.

    Only the call that moves the job sends the completion task, unless ``resend``: a caller
    recovering from an interrupted run sends it again (completion is idempotent).
    """
    store = rt.store
    job = store.load(job_id)
    moved = False
    if job.state in (JobState.QUEUED, JobState.SUBMITTING, JobState.SUBMITTED):
        shards = store.load_shards(job)
        if not job.shard_count or len(shards) < job.shard_count:
            return False
        if any(s.state in (ShardState.PENDING, ShardState.SUBMITTED) for s in shards):
            return False
        outcome = outcome_of(s.status for s in shards)
        fields: dict[str, object] = {"outcome": outcome, "finished_at": time.time()}
        first_error = next((s.error for s in shards if s.error), "")
        if first_error:
            fields["last_error"] = first_error
        moved = store.transition(job, outcome, **fields)
        job = store.load(job_id)
    if job.state in OUTCOME_STATES and (moved or resend):
        rt.send(COMPLETE_JOB, job_id)
        return True
    return False
