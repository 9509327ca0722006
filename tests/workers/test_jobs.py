"""The job record's state machine and custom ids, on a real Redis, without workers."""

from __future__ import annotations

import logging
import re

import pytest

from batchline.batching.status import BatchStatus
from batchline.workers import JobState, enqueue_batch
from batchline.workers.app import BatchlineCelery
from batchline.workers.jobs import (
    TERMINAL_STATES,
    TRANSITIONS,
    custom_id,
    custom_id_prefix,
    outcome_of,
    request_index,
)
from tests.workers.helpers import conversations
from tests.workers.models import Person

ANTHROPIC_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def test_a_job_moves_only_along_the_machine_and_logs_each_move_once(
    app: BatchlineCelery, caplog: pytest.LogCaptureFixture
) -> None:
    handle = enqueue_batch("openai/gpt-4.1-mini", Person, conversations(3), app=app)
    store = app.runtime.store
    job = store.load(handle.id)

    with caplog.at_level(logging.INFO, logger="batchline.jobs"):
        assert not store.transition(job, JobState.RESULTS_STORED)
        assert store.transition(job, JobState.SUBMITTING)
        assert not store.transition(job, JobState.SUBMITTING)  # a task that runs twice
        assert store.transition(job, JobState.SUBMITTED)
        assert store.transition(job, JobState.EXPIRED, outcome="expired")

    assert store.load(handle.id).state is JobState.EXPIRED
    lines = [r for r in caplog.records if r.name == "batchline.jobs"]
    assert [r.batchline["state"] for r in lines] == ["submitting", "submitted", "expired"]  # type: ignore[attr-defined]
    assert all(
        f"job_id={handle.id} provider=openai" in r.getMessage() and "requests=3" in r.getMessage()
        for r in lines
    )


def test_every_state_but_the_last_leads_somewhere() -> None:
    assert set(TRANSITIONS) == set(JobState)
    assert {state for state, targets in TRANSITIONS.items() if not targets} == TERMINAL_STATES


def test_custom_ids_carry_the_job_and_shard_and_fit_anthropic() -> None:
    job_id = "0123456789abcdef"
    largest = custom_id(job_id, 99, 9_999_999)

    assert ANTHROPIC_CUSTOM_ID.match(largest)
    assert request_index(largest) == 9_999_999
    assert custom_id(job_id, 1, 5).startswith(custom_id_prefix(job_id, 1))
    assert not custom_id(job_id, 10, 5).startswith(custom_id_prefix(job_id, 1))


@pytest.mark.parametrize(
    ("statuses", "outcome"),
    [
        (["completed", "completed"], JobState.COMPLETED),
        (["completed", "expired"], JobState.EXPIRED),
        (["cancelled", "expired"], JobState.EXPIRED),
        (["completed", "cancelled"], JobState.CANCELLED),
        (["expired", "failed"], JobState.FAILED),
    ],
)
def test_the_worst_shard_decides_the_job_outcome(statuses: list[str], outcome: JobState) -> None:
    assert outcome_of(BatchStatus(s) for s in statuses) is outcome
