"""Provider trouble: 429/5xx storms are retried, rejections fail the job with the provider's
message, and expired or cancelled batches still account for every request."""

from __future__ import annotations

import time

import pytest

from batchline.batching import BatchError, BatchSuccess, ErrorType
from batchline.sandbox import BatchOutcome, Faults, Sandbox
from batchline.workers import JobState, enqueue_batch
from batchline.workers.app import BatchlineCelery
from tests.conftest import TEST_COMPLETION_DELAY
from tests.workers.conftest import MakeApp, running
from tests.workers.helpers import conversations
from tests.workers.models import Person, record_completion


def wait_for_state(handle: object, state: JobState, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while handle.status() is not state:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"job never reached {state}"
        time.sleep(0.05)


@pytest.mark.parametrize("model", ["openai/gpt-4.1-mini", "google/gemini-2.5-flash"])
def test_jobs_ride_out_429_and_500_storms(make_app: MakeApp, sandbox: Sandbox, model: str) -> None:
    app = make_app(max_retries=15)
    sandbox.faults = Faults(
        seed=7, completion_delay=TEST_COMPLETION_DELAY, http_429_rate=0.2, http_500_rate=0.15
    )
    with running(app):
        handle = enqueue_batch(model, Person, conversations(10), app=app)
        assert handle.wait(timeout=60) in (JobState.RESULTS_STORED, JobState.CALLBACKS_DONE)

    results = handle.results()
    assert [r.custom_id for r in results] == [f"{handle.id}-0-{i}" for i in range(10)]
    assert all(isinstance(r, BatchSuccess) for r in results)
    assert handle.job().outcome == "completed"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("anthropic/claude-3-5-haiku-latest", "failed validation"),
        ("openai/gpt-4.1-mini", "does not exist or you do not have access to it"),
    ],
)
def test_a_rejected_batch_fails_the_job_with_the_providers_message(
    service: BatchlineCelery, sandbox: Sandbox, model: str, message: str
) -> None:
    sandbox.faults = Faults(
        completion_delay=TEST_COMPLETION_DELAY, batch_outcome=BatchOutcome.FAIL_VALIDATION
    )
    handle = enqueue_batch(
        model, Person, conversations(4), callbacks=[record_completion], app=service
    )

    assert handle.wait(timeout=30, callbacks=True) is JobState.CALLBACKS_DONE
    job = handle.job()
    assert job.outcome == "failed"
    assert job.last_error and message in job.last_error
    results = handle.results()
    assert len(results) == 4
    assert all(isinstance(r, BatchError) for r in results)
    assert {r.error_type for r in results} == {ErrorType.PROVIDER_ERROR}  # type: ignore[union-attr]
    assert {r.error_message for r in results} == {handle.summary().shards[0]["error"]}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("outcome", "error_type"),
    [(BatchOutcome.EXPIRE, ErrorType.EXPIRED), (BatchOutcome.CANCEL, ErrorType.CANCELLED)],
)
def test_expired_and_cancelled_batches_keep_finished_answers_and_account_for_the_rest(
    service: BatchlineCelery, sandbox: Sandbox, outcome: BatchOutcome, error_type: ErrorType
) -> None:
    sandbox.faults = Faults(
        completion_delay=TEST_COMPLETION_DELAY, batch_outcome=outcome, partial_share=0.5
    )
    handle = enqueue_batch("openai/gpt-4.1-mini", Person, conversations(20), app=service)

    assert handle.wait(timeout=30) in (JobState.RESULTS_STORED, JobState.CALLBACKS_DONE)
    assert handle.job().outcome == outcome_state(outcome)
    results = handle.results()
    assert len({r.custom_id for r in results}) == 20
    successes = [r for r in results if isinstance(r, BatchSuccess)]
    errors = [r for r in results if isinstance(r, BatchError)]
    assert successes and errors
    assert {e.error_type for e in errors} == {error_type}
    counts = handle.job().counts
    assert counts["succeeded"] == len(successes)
    assert counts["failed"] == len(errors)


def outcome_state(outcome: BatchOutcome) -> str:
    return {BatchOutcome.EXPIRE: "expired", BatchOutcome.CANCEL: "cancelled"}[outcome]


def test_cancelling_a_running_job_cancels_its_provider_batch(
    service: BatchlineCelery, sandbox: Sandbox
) -> None:
    sandbox.faults = Faults(completion_delay=4.0)
    handle = enqueue_batch("openai/gpt-4.1-mini", Person, conversations(6), app=service)
    wait_for_state(handle, JobState.SUBMITTED)

    handle.cancel()

    assert handle.wait(timeout=30) in (JobState.RESULTS_STORED, JobState.CALLBACKS_DONE)
    assert handle.job().outcome == "cancelled"
    assert handle.summary().shards[0]["provider_status"] == "cancelled"
    assert len(handle.results()) == 6


def test_a_job_cancelled_before_submission_never_reaches_the_provider(
    app: BatchlineCelery,
) -> None:
    handle = enqueue_batch("openai/gpt-4.1-mini", Person, conversations(3), app=app)
    handle.cancel()  # no worker yet: the job is still queued

    with running(app, beat=False):
        assert handle.wait(timeout=20) in (JobState.RESULTS_STORED, JobState.CALLBACKS_DONE)

    summary = handle.summary()
    assert summary.outcome == "cancelled"
    assert [shard["batch_id"] for shard in summary.shards] == [""]
    assert {r.error_type for r in handle.results()} == {ErrorType.CANCELLED}  # type: ignore[union-attr]
