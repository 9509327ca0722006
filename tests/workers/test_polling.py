"""Beat polling over the sorted set of pending shards: few provider calls, leases, locks."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

from batchline.batching.providers.base import Provider
from batchline.sandbox import Faults, Sandbox
from batchline.workers import JobState, enqueue_batch
from batchline.workers import polling as polling_module
from batchline.workers.app import BatchlineCelery
from batchline.workers.polling import PollReport, poll_provider
from tests.workers.conftest import MakeApp, running
from tests.workers.helpers import conversations
from tests.workers.models import Person


class CountingProvider:
    """Wraps the poller's provider and counts its status calls."""

    def __init__(self, inner: Provider, counts: Counter[str]) -> None:
        self.inner = inner
        self.counts = counts
        self.name = inner.name

    def list(self, limit: int = 20) -> Any:
        self.counts["list"] += 1
        return self.inner.list(limit=limit)

    def get(self, batch_id: str) -> Any:
        self.counts["get"] += 1
        return self.inner.get(batch_id)


def count_poller_calls(app: BatchlineCelery, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    real = app.runtime.provider

    def counting(name: str) -> Any:
        return CountingProvider(real(name), counts)

    monkeypatch.setattr(app.runtime, "provider", counting)
    return counts


def submitted_jobs(app: BatchlineCelery, count: int) -> list[Any]:
    """``count`` jobs whose provider batches exist (a worker without beat submits them)."""
    handles = [
        enqueue_batch("openai/gpt-4.1-mini", Person, conversations(2), app=app)
        for _ in range(count)
    ]
    with running(app, beat=False):
        deadline = time.monotonic() + 20
        while any(h.status() is not JobState.SUBMITTED for h in handles):
            assert time.monotonic() < deadline, "jobs were never submitted"
            time.sleep(0.05)
    return handles


def make_all_due(app: BatchlineCelery) -> None:
    """Score every pending OpenAI shard as due long ago, so the next tick takes them all."""
    pending_key = app.runtime.keys.pending("openai")
    app.runtime.redis.zadd(
        pending_key, {str(m): 0 for m in app.runtime.redis.zrange(pending_key, 0, -1)}
    )


def test_one_list_call_per_tick_answers_all_pending_jobs(
    make_app: MakeApp, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(poll_interval=0.3)
    sandbox.faults = Faults(completion_delay=2.0)
    counts = count_poller_calls(app, monkeypatch)
    reports: list[PollReport] = []
    real_tick = polling_module.poll_provider

    def recording_tick(rt: Any, provider: str) -> PollReport:
        report = real_tick(rt, provider)
        if report.due:
            reports.append(report)
        return report

    monkeypatch.setattr(polling_module, "poll_provider", recording_tick)
    handles = [
        enqueue_batch("openai/gpt-4.1-mini", Person, conversations(2), app=app) for _ in range(6)
    ]

    with running(app):
        for handle in handles:
            assert handle.wait(timeout=30) in (JobState.RESULTS_STORED, JobState.CALLBACKS_DONE)

    polled_shards = sum(report.due for report in reports)
    provider_calls = counts["list"] + counts["get"]
    assert provider_calls == sum(report.provider_calls for report in reports)
    assert polled_shards >= 12, "expected several ticks over the pending jobs"
    assert provider_calls < polled_shards / 2
    assert all(report.provider_calls == 1 for report in reports if report.due >= 2)


def test_a_second_tick_at_the_same_time_polls_nothing_twice(
    app: BatchlineCelery, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.faults = Faults(completion_delay=30.0)
    submitted_jobs(app, 4)
    counts = count_poller_calls(app, monkeypatch)
    make_all_due(app)
    start = threading.Barrier(2)
    reports: list[PollReport] = []

    def tick() -> None:
        start.wait()
        reports.append(poll_provider(app.runtime, "openai"))

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(report.due for report in reports) == [0, 4]
    assert counts["list"] == 1


def test_a_poller_that_dies_mid_tick_leaves_its_shards_to_the_next_lease(
    make_app: MakeApp, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(poll_lease=0.5)
    sandbox.faults = Faults(completion_delay=30.0)
    submitted_jobs(app, 2)
    make_all_due(app)

    def crash(*args: object, **kwargs: object) -> None:
        raise SystemExit("poller killed")

    with monkeypatch.context() as patch:
        patch.setattr(polling_module, "_poll", crash)
        with pytest.raises(SystemExit):
            poll_provider(app.runtime, "openai")

    assert poll_provider(app.runtime, "openai").due == 0  # leased by the dead tick
    time.sleep(0.6)
    assert poll_provider(app.runtime, "openai").due == 2


def test_a_tick_one_interval_after_the_last_polls_the_shard_again(
    make_app: MakeApp, sandbox: Sandbox
) -> None:
    """Each pending shard is polled at every tick, not every other one: the next poll is due
    one interval after the tick that claimed it, however long the poll itself took."""
    interval = 1.0
    app = make_app(poll_interval=interval)
    sandbox.faults = Faults(completion_delay=30.0)
    submitted_jobs(app, 1)
    make_all_due(app)

    dues = []
    for _ in range(3):
        tick_at = time.time()
        dues.append(poll_provider(app.runtime, "openai").due)
        time.sleep(max(0.0, tick_at + interval - time.time()))

    assert dues == [1, 1, 1]


def test_one_tick_polls_more_pending_shards_than_one_claim_takes(
    make_app: MakeApp, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(poll_batch=2, poll_interval=2.0)
    sandbox.faults = Faults(completion_delay=30.0)
    submitted_jobs(app, 5)
    counts = count_poller_calls(app, monkeypatch)
    make_all_due(app)

    report = poll_provider(app.runtime, "openai")

    assert report.due == 5
    # One list call for each claim of two shards, one get for the last shard alone.
    assert (counts["list"], counts["get"]) == (2, 1)
    assert poll_provider(app.runtime, "openai").due == 0  # all rescheduled an interval ahead
