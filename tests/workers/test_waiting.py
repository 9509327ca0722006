"""Waiting is not failing: an undecided claim waits against its own deadline, never spends
the retry budget, and never lets a shard end as failed while its batch may exist."""

from __future__ import annotations

import time
from typing import Any

import pytest

from batchline.batching.processor import BatchProcessor
from batchline.errors import ClaimPending, ProviderUnavailable
from batchline.sandbox import Faults, Sandbox
from batchline.workers import RESULTS_READY_STATES, JobState, enqueue_batch
from batchline.workers.app import BatchlineCelery
from batchline.workers.reconcile import reconcile
from batchline.workers.submission import submit_job
from tests.workers.conftest import MakeApp, running
from tests.workers.helpers import conversations
from tests.workers.models import Person

ANTHROPIC = "anthropic/claude-3-5-haiku-latest"
REQUESTS = 4


def fail_submit(monkeypatch: pytest.MonkeyPatch, times: int, *, after_creating: bool) -> list[str]:
    """Make the next ``times`` provider submits raise a timeout; with ``after_creating`` the
    batch is created first (the answer was lost on the way back). Returns the batch ids made."""
    real = BatchProcessor.submit_batch
    made: list[str] = []

    def submit(self: BatchProcessor[Any], *args: Any, **kwargs: Any) -> str:
        if len(made) < times:
            made.append(real(self, *args, **kwargs) if after_creating else "")
            raise ProviderUnavailable("read timed out", provider="test")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(BatchProcessor, "submit_batch", submit)
    return made


def test_waiting_on_a_claim_does_not_spend_the_retry_budget(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two attempts allowed; the claim of a dead worker makes the task wait (retry after
    # retry) for the 3 s grace before the first real attempt, which then fails once.
    app = make_app(max_retries=2, submit_grace=3.0)
    handle = enqueue_batch("openai/gpt-4.1-mini", Person, conversations(REQUESTS), app=app)
    claim_key = app.runtime.keys.submit_claim(handle.id, 0)
    app.runtime.redis.set(claim_key, f"claimed:dead-worker:0000:{time.time()!r}")
    made = fail_submit(monkeypatch, 1, after_creating=False)
    with running(app):
        assert handle.wait(timeout=60) in RESULTS_READY_STATES
    job = handle.job()
    assert job.outcome is JobState.COMPLETED
    assert job.counts["succeeded"] == REQUESTS
    assert len(made) == 1  # the one real failure happened, and did not end the job


def test_a_shard_is_not_failed_while_its_batch_may_exist(
    make_app: MakeApp, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anthropic batches are recognisable only once they end; this one takes 4 s, and the
    # call that created it "timed out", so the only attempt allowed is spent at once.
    sandbox.faults = Faults(completion_delay=4.0)
    app = make_app(max_retries=1, submit_grace=1.5)
    handle = enqueue_batch(ANTHROPIC, Person, conversations(REQUESTS), app=app)
    made = fail_submit(monkeypatch, 1, after_creating=True)
    with running(app):
        assert handle.wait(timeout=60) in RESULTS_READY_STATES
    job = handle.job()
    [shard] = app.runtime.store.load_shards(job)
    assert shard.batch_id == made[0]  # adopted once it ended, not failed, not paid twice
    assert job.counts["succeeded"] == REQUESTS


def _claimed_job(app: BatchlineCelery) -> Any:
    """A job whose one shard is planned and pending, as under a claim."""
    handle = enqueue_batch(ANTHROPIC, Person, conversations(REQUESTS), app=app)
    rt = app.runtime
    job = rt.store.load(handle.id)
    rt.store.transition(job, JobState.SUBMITTING)
    rt.store.plan_shards(job, [(0, REQUESTS)])
    [shard] = rt.store.load_shards(job)
    return job, shard


def test_batches_another_job_owns_are_not_undecided_candidates(
    make_app: MakeApp, sandbox: Sandbox
) -> None:
    sandbox.faults = Faults(completion_delay=30.0)
    app = make_app(submit_grace=60.0)
    rt = app.runtime
    other = enqueue_batch(ANTHROPIC, Person, conversations(REQUESTS), app=app)
    assert submit_job(rt, other.id) is JobState.SUBMITTED  # same size, still processing
    job, shard = _claimed_job(app)
    processor = rt.processor(job)

    assert reconcile(rt, job, processor, shard, claimed_at=time.time() - 1) is None

    rt.redis.delete(rt.keys.batch_owners("anthropic"))  # as if no job knew that batch
    with pytest.raises(ClaimPending, match="no job knows"):
        reconcile(rt, job, processor, shard, claimed_at=time.time() - 1)


def test_an_undecided_claim_stops_waiting_at_its_deadline(
    make_app: MakeApp, sandbox: Sandbox
) -> None:
    sandbox.faults = Faults(completion_delay=30.0)
    app = make_app(submit_grace=60.0)
    rt = app.runtime
    stranger = enqueue_batch(ANTHROPIC, Person, conversations(REQUESTS), app=app)
    submit_job(rt, stranger.id)
    rt.redis.delete(rt.keys.batch_owners("anthropic"))
    job, shard = _claimed_job(app)
    processor = rt.processor(job)
    recognisable = processor.provider.recognisable_within
    assert recognisable >= 24 * 3600  # an Anthropic batch may take its whole 24 h to end

    long_ago = time.time() - 60.0 - recognisable - 1
    # The batch was created after the claim, yet by the deadline any batch of this claim would
    # have ended and been recognised: it is not ours, and the claim is decided.
    stranger_batch = rt.store.load_shards(rt.store.load(stranger.id))[0].batch_id
    assert stranger_batch
    assert reconcile(rt, job, processor, shard, claimed_at=long_ago) is None
