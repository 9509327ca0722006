"""Fair use of the provider budget, with real workers, beat and the sandbox: a backlog of new
jobs under a tight rate limit never delays a job that is already running at the provider."""

from __future__ import annotations

import time

from batchline.sandbox import Faults, Sandbox
from batchline.workers import JobState, enqueue_batch
from tests.workers.conftest import MakeApp, running
from tests.workers.helpers import conversations
from tests.workers.models import Person

#: 4 calls a second, half kept for finishing work: a backlog submits one job a second at most
#: while anything is finishing (two calls each: upload, create), two when nothing is.
RATE = {"provider_rate_limit": 4.0, "finish_share": 0.5, "poll_interval": 0.5}
BACKLOG = 40
#: Seconds the sandbox keeps each batch running.
RUNNING_FOR = 2.0


def test_a_backlog_of_submissions_does_not_delay_a_running_jobs_completion(
    make_app: MakeApp, sandbox: Sandbox
) -> None:
    app = make_app(**RATE)
    sandbox.faults = Faults(completion_delay=RUNNING_FOR)
    model = "openai/gpt-4.1-mini"
    with running(app, concurrency=4):
        running_job = enqueue_batch(model, Person, conversations(3), app=app)
        deadline = time.monotonic() + 20
        while running_job.status() is not JobState.SUBMITTED:
            assert time.monotonic() < deadline, "the first job was never submitted"
            time.sleep(0.02)
        submitted_at = running_job.job().submitted_at

        backlog = [enqueue_batch(model, Person, conversations(1), app=app) for _ in range(BACKLOG)]
        running_job.wait(timeout=30)
        stored_after = time.time() - submitted_at
        not_yet_submitted = sum(
            1 for job in backlog if job.status() in (JobState.QUEUED, JobState.SUBMITTING)
        )

    # The batch ran for 2 s; a few 0.5 s poll intervals later its results are stored ...
    assert stored_after < RUNNING_FOR + 4.0, f"results stored {stored_after:.1f} s after submit"
    # ... while most of the backlog (40 jobs at one or two a second) still waits to be submitted.
    assert not_yet_submitted >= BACKLOG // 2, f"only {not_yet_submitted} still waiting"
