"""A Vertex job can fail partway and still have written the rows it completed
(``successfulCount > 0`` with an output folder): those rows are read, the rest are errors."""

from __future__ import annotations

from batchline.batching import BatchError, BatchProcessor, BatchSuccess, ErrorType
from batchline.sandbox import Faults, Sandbox
from tests.conftest import TEST_COMPLETION_DELAY
from tests.providers.contract import conversations, wait_until_terminal
from tests.providers.models import User

MODEL = "google/gemini-2.5-flash"
COUNT = 12


def partway(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(
        completion_delay=TEST_COMPLETION_DELAY, fail_partway=True, partial_share=0.5
    )


def test_failed_job_with_rows_written_reports_them(sandbox: Sandbox) -> None:
    partway(sandbox)
    processor = BatchProcessor(MODEL, User)
    batch_id = processor.submit_batch(processor.create_batch_from_messages(conversations(COUNT)))

    status = wait_until_terminal(processor, batch_id)

    assert status["status"] == "failed"
    assert 0 < status["request_counts"]["completed"] < COUNT


def test_completed_rows_of_a_failed_job_are_read_and_the_rest_are_provider_errors(
    sandbox: Sandbox,
) -> None:
    partway(sandbox)
    processor = BatchProcessor(MODEL, User)
    path = processor.create_batch_from_messages(conversations(COUNT))
    batch_id = processor.submit_batch(path)
    wait_until_terminal(processor, batch_id)
    expected = [f"request-{n}" for n in range(COUNT)]

    results = list(processor.iter_results(batch_id, expected_ids=expected))

    successes = [r for r in results if isinstance(r, BatchSuccess)]
    errors = [r for r in results if isinstance(r, BatchError)]
    assert sorted(r.custom_id for r in results) == sorted(expected)
    assert 0 < len(successes) < COUNT
    assert {e.error_type for e in errors} == {ErrorType.PROVIDER_ERROR}
    assert all("fail_partway" in e.error_message for e in errors)
