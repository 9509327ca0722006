"""Retrying a finished job's failed requests: a new job of only those, paid for once, whose
results merge back into one result per original request."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import redis

from batchline.batching import BatchError, BatchSuccess, ErrorType
from batchline.errors import BatchlineError, InvalidRequestError, ResultsNotReadyError
from batchline.sandbox import Faults, Sandbox
from batchline.workers import JobState, enqueue_batch
from batchline.workers.api import JobHandle
from batchline.workers.app import BatchlineCelery
from batchline.workers.runtime import META_JOB
from tests.conftest import TEST_COMPLETION_DELAY
from tests.workers.conftest import MakeApp, running
from tests.workers.helpers import conversations
from tests.workers.models import Person, calls, record_completion

DONE = (JobState.RESULTS_STORED, JobState.CALLBACKS_DONE)


def provider_batches(job_id: str) -> int:
    """OpenAI batches carrying this job's id in their metadata."""
    from batchline.batching import BatchProcessor

    provider = BatchProcessor("openai/gpt-4.1-mini", Person).provider
    return len(provider.find_by_metadata(META_JOB, job_id, limit=1000))


def finished_with_failures(
    app: BatchlineCelery,
    sandbox: Sandbox,
    count: int,
    *,
    model: str = "openai/gpt-4.1-mini",
    seed: int = 3,
    **faults: float,
) -> JobHandle[Person]:
    """A finished job some of whose requests failed (``faults`` are the sandbox's rates); the
    sandbox is healthy again afterwards, so a retry succeeds."""
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, seed=seed, **faults)
    handle = enqueue_batch(model, Person, conversations(count), app=app)
    assert handle.wait(timeout=30) in DONE
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY)
    return handle


@pytest.mark.parametrize("model", ["openai/gpt-4.1-mini", "anthropic/claude-haiku-4-5"])
def test_failed_requests_run_again_alone_and_merge_back(
    service: BatchlineCelery,
    sandbox: Sandbox,
    redis_client: redis.Redis,
    prefix: str,
    model: str,
) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, seed=3, error_rate=0.4)
    first = enqueue_batch(
        model, Person, conversations(30), callbacks=[record_completion], app=service
    )
    assert first.wait(timeout=30, callbacks=True) is JobState.CALLBACKS_DONE
    first_results = first.results()
    failed = [r.custom_id for r in first_results if isinstance(r, BatchError)]
    assert failed and len(failed) < 30

    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY)
    retry = first.retry_failed()

    assert retry.wait(timeout=30, callbacks=True) is JobState.CALLBACKS_DONE
    assert retry.job().retry_of == first.id
    assert retry.job().request_count == len(failed)
    assert [r.custom_id for r in retry.results()] == failed
    assert all(isinstance(r, BatchSuccess) for r in retry.results())
    merged = retry.merged_results()
    assert [r.custom_id for r in merged] == [r.custom_id for r in first_results]
    assert all(isinstance(r, BatchSuccess) for r in merged)
    # The original job's callback fired for it, and again (once) for the retry.
    assert calls(redis_client, prefix, "calls", first.id) == 1
    assert calls(redis_client, prefix, "calls", retry.id) == 1
    assert retry.summary().retry_of == first.id


def test_callers_asking_at_once_get_the_same_retry_and_one_provider_batch(
    service: BatchlineCelery, sandbox: Sandbox
) -> None:
    first = finished_with_failures(service, sandbox, 20, seed=5, error_rate=0.5)

    start = threading.Barrier(3)
    asked: list[str] = []

    def ask() -> None:
        start.wait()
        asked.append(first.retry_failed().id)

    callers = [threading.Thread(target=ask) for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()

    assert len(asked) == 3 and len(set(asked)) == 1
    retry = JobHandle(asked[0], service)
    assert retry.wait(timeout=30) in DONE
    assert first.retry_failed().id == retry.id  # and after it ended
    assert provider_batches(retry.id) == 1


def test_a_retry_of_a_retry_still_answers_the_first_jobs_requests(
    service: BatchlineCelery, sandbox: Sandbox
) -> None:
    first = finished_with_failures(service, sandbox, 40, error_rate=0.5)
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, seed=3, error_rate=0.5)
    retry = first.retry_failed()
    assert retry.wait(timeout=30) in DONE
    still_failed = [r.custom_id for r in retry.results() if not r.success]
    assert still_failed, "the seed should leave some failures for a second retry"

    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY)
    second = retry.retry_failed()

    assert second.wait(timeout=30) in DONE
    assert [r.custom_id for r in second.results()] == still_failed
    merged = second.merged_results()
    assert [r.custom_id for r in merged] == [f"{first.id}-0-{i}" for i in range(40)]
    assert all(r.success for r in merged)


def test_only_the_chosen_error_types_are_retried(
    service: BatchlineCelery, sandbox: Sandbox
) -> None:
    first = finished_with_failures(service, sandbox, 40, seed=11, error_rate=0.3, refusal_rate=0.3)
    kinds = {r.custom_id: r.error_type for r in first.results() if isinstance(r, BatchError)}
    assert ErrorType.REFUSAL in kinds.values() and ErrorType.PROVIDER_ERROR in kinds.values()

    retry = first.retry_failed([ErrorType.REFUSAL])

    assert retry.wait(timeout=30) in DONE
    refused = [cid for cid, kind in kinds.items() if kind == ErrorType.REFUSAL]
    assert [r.custom_id for r in retry.results()] == refused


def test_nothing_to_retry_is_an_error_and_leaves_no_claim(
    service: BatchlineCelery, sandbox: Sandbox
) -> None:
    first = enqueue_batch("openai/gpt-4.1-mini", Person, conversations(3), app=service)
    assert first.wait(timeout=30) in DONE

    with pytest.raises(InvalidRequestError, match="nothing to retry"):
        first.retry_failed()

    assert not service.runtime.redis.exists(service.runtime.keys.retry_claim(first.id))


def test_a_job_still_running_cannot_be_retried(make_app: MakeApp, sandbox: Sandbox) -> None:
    app = make_app()
    handle = enqueue_batch("openai/gpt-4.1-mini", Person, conversations(2), app=app)

    with pytest.raises(ResultsNotReadyError, match="queued"):
        handle.retry_failed()

    with running(app):
        assert handle.wait(timeout=30) in DONE


def test_requests_kept_in_a_file_are_read_again_for_the_retry(
    service: BatchlineCelery, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, seed=3, error_rate=0.4)
    first = enqueue_batch(
        "google/gemini-2.5-flash",
        Person,
        conversations(30),
        requests_path=tmp_path / "requests.jsonl",
        app=service,
    )
    assert first.wait(timeout=30) in DONE
    failed = [r.custom_id for r in first.results() if not r.success]
    assert failed

    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY)
    retry = first.retry_failed()

    assert retry.wait(timeout=30) in DONE
    assert [r.custom_id for r in retry.results() if r.success] == failed


def test_a_retry_whose_requests_are_gone_says_so_and_can_be_asked_again(
    service: BatchlineCelery, sandbox: Sandbox
) -> None:
    first = finished_with_failures(service, sandbox, 30, error_rate=0.4)
    service.runtime.redis.delete(service.runtime.keys.requests(first.id))

    with pytest.raises(BatchlineError, match="requests are gone"):
        first.retry_failed()

    assert not service.runtime.redis.exists(service.runtime.keys.retry_claim(first.id))


def test_a_deleted_retry_job_can_be_replaced_by_a_new_retry(
    service: BatchlineCelery, sandbox: Sandbox
) -> None:
    first = finished_with_failures(service, sandbox, 30, error_rate=0.4)
    retry = first.retry_failed()
    assert retry.wait(timeout=30) in DONE

    retry.delete()
    again = first.retry_failed()

    assert again.id != retry.id
    assert again.wait(timeout=30) in DONE
    assert first.retry_failed().id == again.id
