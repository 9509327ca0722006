"""OpenAI fails a batch whose tokens do not fit the organisation's enqueued-token quota
(``token_limit_exceeded``); the shard waits and is sent again, within a bound."""

from __future__ import annotations

import pytest

from batchline.batching import BatchSuccess
from batchline.sandbox import Faults, Sandbox
from batchline.workers import JobState, enqueue_batch, polling
from batchline.workers.app import BatchlineCelery
from tests.conftest import TEST_COMPLETION_DELAY
from tests.workers.helpers import conversations
from tests.workers.models import Person

MODEL = "openai/gpt-4.1-mini"


def test_a_shard_refused_over_quota_is_sent_again_and_completes(
    service: BatchlineCelery, sandbox: Sandbox
) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, capacity_refusals=2)
    handle = enqueue_batch(MODEL, Person, conversations(4), app=service)

    assert handle.wait(timeout=60) in (JobState.RESULTS_STORED, JobState.CALLBACKS_DONE)

    assert handle.job().outcome == "completed"
    assert all(isinstance(r, BatchSuccess) for r in handle.results())
    (shard,) = handle.summary().shards
    assert shard["capacity_waits"] == 2


def test_each_wait_is_recorded_on_the_job(service: BatchlineCelery, sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, capacity_refusals=1)
    handle = enqueue_batch(MODEL, Person, conversations(2), app=service)

    assert handle.wait(timeout=60) in (JobState.RESULTS_STORED, JobState.CALLBACKS_DONE)

    job = handle.job()
    assert job.outcome == "completed"
    assert "failed over the enqueued-token quota" in job.last_error
    assert f"(1 of {polling.MAX_CAPACITY_WAITS})" in job.last_error
    assert handle.summary().shards[0]["error"] == ""  # the batch that ran has no error


def test_a_quota_that_never_frees_fails_the_shard_after_the_bound(
    service: BatchlineCelery, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(polling, "MAX_CAPACITY_WAITS", 2)
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, capacity_refusals=100)
    handle = enqueue_batch(MODEL, Person, conversations(3), app=service)

    assert handle.wait(timeout=60) in (JobState.RESULTS_STORED, JobState.CALLBACKS_DONE)

    assert handle.job().outcome == "failed"
    (shard,) = handle.summary().shards
    assert shard["capacity_waits"] == 2
    assert "Enqueued token limit reached" in shard["error"]
    assert sandbox.faults.capacity_refusals == 100 - 3  # the first batch and two resubmissions
