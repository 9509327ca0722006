"""Lost broker messages: the sweep re-drives every stalled job from its record until it ends.

Each test freezes a job in one state the way a lost message would (the message is deleted
from the broker queue, or was never sent), then starts a real threads worker and beat on the
same Redis and the sandbox, and checks the job ends with every result and its callback once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis
from kombu.exceptions import OperationalError

from batchline.workers import JobState, enqueue_batch, get_job
from batchline.workers.app import BatchlineCelery
from batchline.workers.completion import complete_job
from batchline.workers.polling import poll_provider
from batchline.workers.routing import consumed_queues
from batchline.workers.submission import submit_job
from batchline.workers.sweep import sweep
from tests.workers.conftest import MakeApp, running
from tests.workers.helpers import conversations
from tests.workers.models import Person, calls, record_completion

#: A stall bound the tests can wait out: above the test settings' 1 s retry backoff cap.
SWEEP = {"stall_after": 2.0, "sweep_interval": 0.5}
REQUESTS = 6


@pytest.fixture
def sweeping(make_app: MakeApp) -> BatchlineCelery:
    return make_app(**SWEEP)


def lose_broker_messages(client: redis.Redis, app: BatchlineCelery) -> int:
    """Delete every message waiting in the app's queues (new work, finishing work, ticks; the
    bindings stay, as after a loss); return how many there were."""
    settings = app.runtime.settings
    waiting = 0
    for queue in consumed_queues(settings.queue):
        key = f"{settings.broker_key_prefix}{queue}"
        waiting += int(client.llen(key))
        client.delete(key)
    return waiting


def enqueue(app: BatchlineCelery) -> str:
    handle = enqueue_batch(
        "openai/gpt-4.1-mini",
        Person,
        conversations(REQUESTS),
        callbacks=[record_completion],
        app=app,
    )
    return handle.id


def poll_until(app: BatchlineCelery, job_id: str, state: JobState, timeout: float = 20) -> None:
    """Poll by hand (no beat yet) until the job reaches ``state``."""
    rt = app.runtime
    deadline = time.monotonic() + timeout
    while rt.store.load(job_id).state is not state:
        assert time.monotonic() < deadline, f"job never reached {state}"
        poll_provider(rt, "openai")
        time.sleep(0.1)


def assert_ended_once(
    app: BatchlineCelery, client: redis.Redis, prefix: str, job_id: str, timeout: float = 40
) -> None:
    with running(app):
        state = get_job(job_id, app).wait(timeout=timeout, callbacks=True)
    assert state is JobState.CALLBACKS_DONE
    job = app.runtime.store.load(job_id)
    assert job.counts["succeeded"] == REQUESTS
    assert app.runtime.results.count(job_id) == REQUESTS
    assert calls(client, prefix, "calls", job_id) == 1
    assert job_id not in {i for i, _ in app.runtime.store.stale_active(time.time() + 1e6, 100)}


def test_a_queued_job_whose_submit_message_was_lost_ends(
    sweeping: BatchlineCelery, redis_client: redis.Redis, prefix: str
) -> None:
    job_id = enqueue(sweeping)
    assert lose_broker_messages(redis_client, sweeping) == 1
    assert_ended_once(sweeping, redis_client, prefix, job_id)


def test_a_job_left_submitting_by_a_killed_worker_ends(
    sweeping: BatchlineCelery, redis_client: redis.Redis, prefix: str
) -> None:
    rt = sweeping.runtime
    job_id = enqueue(sweeping)
    # A worker took the message, moved the job on, and died with the message lost.
    assert rt.store.transition(rt.store.load(job_id), JobState.SUBMITTING)
    lose_broker_messages(redis_client, sweeping)
    assert_ended_once(sweeping, redis_client, prefix, job_id)


def test_a_completed_job_whose_completion_message_was_lost_ends(
    sweeping: BatchlineCelery, redis_client: redis.Redis, prefix: str
) -> None:
    rt = sweeping.runtime
    job_id = enqueue(sweeping)
    lose_broker_messages(redis_client, sweeping)
    assert submit_job(rt, job_id) is JobState.SUBMITTED
    poll_until(sweeping, job_id, JobState.COMPLETED)  # the poll sends complete_job...
    assert lose_broker_messages(redis_client, sweeping) == 1  # ...which is lost
    assert_ended_once(sweeping, redis_client, prefix, job_id)


def test_results_stored_with_a_callback_whose_task_died_ends(
    sweeping: BatchlineCelery, redis_client: redis.Redis, prefix: str
) -> None:
    rt = sweeping.runtime
    job_id = enqueue(sweeping)
    lose_broker_messages(redis_client, sweeping)
    submit_job(rt, job_id)
    poll_until(sweeping, job_id, JobState.COMPLETED)
    lose_broker_messages(redis_client, sweeping)
    assert complete_job(rt, job_id) is JobState.RESULTS_STORED
    # The callback task took its marker and died; its message is gone with it.
    assert rt.callbacks.take(job_id, 0, "running:lost-task")
    assert lose_broker_messages(redis_client, sweeping) == 1
    assert_ended_once(sweeping, redis_client, prefix, job_id)


def test_a_submitted_job_whose_poll_entry_was_lost_ends(
    sweeping: BatchlineCelery, redis_client: redis.Redis, prefix: str
) -> None:
    rt = sweeping.runtime
    job_id = enqueue(sweeping)
    lose_broker_messages(redis_client, sweeping)
    submit_job(rt, job_id)
    redis_client.delete(rt.keys.pending("openai"))  # died before scheduling the first poll
    assert_ended_once(sweeping, redis_client, prefix, job_id)


def test_a_job_enqueued_while_the_broker_is_down_still_ends(
    sweeping: BatchlineCelery,
    redis_client: redis.Redis,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to the broker. Connection refused.")

    with monkeypatch.context() as patch:
        patch.setattr(sweeping, "send_task", broker_down)
        job_id = enqueue(sweeping)  # the record is written; no message
    assert redis_client.llen(f"{prefix}:kombu:{prefix}.q") == 0
    assert_ended_once(sweeping, redis_client, prefix, job_id)


def test_a_job_that_moved_recently_is_left_alone(
    sweeping: BatchlineCelery, redis_client: redis.Redis
) -> None:
    rt = sweeping.runtime
    job_id = enqueue(sweeping)
    lose_broker_messages(redis_client, sweeping)
    report = sweep(rt, now=time.time() + 1.0)  # younger than stall_after
    assert report.redriven == {}
    assert lose_broker_messages(redis_client, sweeping) == 0
    assert sweep(rt, now=time.time() + 3.0).redriven == {job_id: "submit"}
    assert lose_broker_messages(redis_client, sweeping) == 1


def test_two_sweeps_at_once_send_one_message_per_job(
    sweeping: BatchlineCelery, redis_client: redis.Redis
) -> None:
    rt = sweeping.runtime
    job_ids = [enqueue(sweeping) for _ in range(5)]
    lose_broker_messages(redis_client, sweeping)
    later = time.time() + 10.0
    start = threading.Barrier(2)
    reports: list[dict[str, str]] = []

    def one_sweep() -> None:
        start.wait()
        reports.append(sweep(rt, now=later).redriven)

    threads = [threading.Thread(target=one_sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    driven = [job_id for report in reports for job_id in report]
    assert sorted(driven) == sorted(job_ids)
    assert lose_broker_messages(redis_client, sweeping) == len(job_ids)


def test_a_job_whose_task_is_retrying_or_waiting_is_left_alone(
    sweeping: BatchlineCelery, redis_client: redis.Redis
) -> None:
    rt = sweeping.runtime
    job_id = enqueue(sweeping)
    lose_broker_messages(redis_client, sweeping)
    long_ago = time.time() - 60
    redis_client.zadd(rt.keys.active, {job_id: long_ago})
    redis_client.hset(rt.keys.job(job_id), "updated_at", repr(long_ago))

    rt.store.heartbeat(job_id)  # what a task does before each retry or wait
    assert sweep(rt).redriven == {}

    assert sweep(rt, now=time.time() + 3.0).redriven == {job_id: "submit"}
