"""Claim, call, record: the rules that keep a job from paying twice, run step by step."""

from __future__ import annotations

import time
from typing import Any

import pytest

from batchline.batching.processor import BatchProcessor
from batchline.errors import ClaimPending
from batchline.sandbox import Faults, Sandbox
from batchline.workers import JobState, enqueue_batch
from batchline.workers.app import BatchlineCelery
from batchline.workers.runtime import META_JOB
from batchline.workers.submission import submit_job
from tests.workers.helpers import conversations
from tests.workers.models import Person

MODEL = "openai/gpt-4.1-mini"


@pytest.fixture
def slow_batches(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=30.0)


def job_batches(app: BatchlineCelery, job_id: str) -> list[Any]:
    return app.runtime.provider("openai").find_by_metadata(META_JOB, job_id)


def during_submit(monkeypatch: pytest.MonkeyPatch, action: Any) -> None:
    """Run ``action(batch_id)`` right after the provider created the batch, before batchline
    records it: what a concurrent attempt could do in that moment."""
    real = BatchProcessor.submit_batch

    def submit(self: BatchProcessor[Any], *args: Any, **kwargs: Any) -> str:
        batch_id = real(self, *args, **kwargs)
        action(batch_id)
        return batch_id

    monkeypatch.setattr(BatchProcessor, "submit_batch", submit)


def test_a_batch_another_run_adopted_meanwhile_is_kept(
    app: BatchlineCelery, slow_batches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = enqueue_batch(MODEL, Person, conversations(2), app=app)
    claim_key = app.runtime.keys.submit_claim(handle.id, 0)
    during_submit(monkeypatch, lambda batch_id: app.runtime.redis.set(claim_key, batch_id))

    assert submit_job(app.runtime, handle.id) is JobState.SUBMITTED

    [batch] = job_batches(app, handle.id)
    assert batch.provider_status not in ("cancelling", "cancelled")
    assert handle.job().last_error == ""
    assert handle.summary().shards[0]["batch_id"] == batch.id


def test_a_batch_created_after_the_claim_passed_on_is_cancelled(
    app: BatchlineCelery, slow_batches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = enqueue_batch(MODEL, Person, conversations(2), app=app)
    claim_key = app.runtime.keys.submit_claim(handle.id, 0)
    during_submit(monkeypatch, lambda _: app.runtime.redis.set(claim_key, "batch_owned_by_another"))

    submit_job(app.runtime, handle.id)

    [batch] = job_batches(app, handle.id)
    assert batch.provider_status in ("cancelling", "cancelled")
    assert f"duplicate provider batch {batch.id}" in handle.job().last_error


def test_a_fresh_claim_without_a_batch_is_waited_for_and_a_stale_one_replaced(
    make_app: Any, slow_batches: None
) -> None:
    app = make_app(submit_grace=60.0)
    handle = enqueue_batch(MODEL, Person, conversations(2), app=app)
    claim_key = app.runtime.keys.submit_claim(handle.id, 0)
    app.runtime.redis.set(claim_key, f"claimed:dead-worker:0000:{time.time()!r}")

    with pytest.raises(ClaimPending):
        submit_job(app.runtime, handle.id)
    assert job_batches(app, handle.id) == []

    app.runtime.redis.set(claim_key, f"claimed:dead-worker:0000:{time.time() - 61!r}")
    assert submit_job(app.runtime, handle.id) is JobState.SUBMITTED
    [batch] = job_batches(app, handle.id)
    assert app.runtime.redis.get(claim_key) == batch.id
