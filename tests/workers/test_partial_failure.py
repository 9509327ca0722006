"""A Vertex job that failed partway keeps the answers it wrote: the job fails, but its
completed requests come back as successes and the rest as provider errors."""

from __future__ import annotations

from batchline.batching import BatchSuccess
from batchline.sandbox import Faults, Sandbox
from batchline.workers import JobState, enqueue_batch
from batchline.workers.app import BatchlineCelery
from tests.conftest import TEST_COMPLETION_DELAY
from tests.workers.helpers import conversations
from tests.workers.models import Person

MODEL = "google/gemini-2.5-flash"
COUNT = 12


def test_a_job_whose_vertex_batch_failed_partway_keeps_its_answers(
    service: BatchlineCelery, sandbox: Sandbox
) -> None:
    sandbox.faults = Faults(
        completion_delay=TEST_COMPLETION_DELAY, fail_partway=True, partial_share=0.5
    )
    handle = enqueue_batch(MODEL, Person, conversations(COUNT), app=service)

    assert handle.wait(timeout=60) in (JobState.RESULTS_STORED, JobState.CALLBACKS_DONE)

    results = handle.results()
    assert handle.job().outcome == "failed" and len(results) == COUNT
    assert 0 < sum(isinstance(r, BatchSuccess) for r in results) < COUNT
