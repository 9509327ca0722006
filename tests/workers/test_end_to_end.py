"""A job from ``enqueue_batch`` to its callback, for every provider, through the sandbox."""

from __future__ import annotations

import pytest
import redis

from batchline.batching import BatchSuccess
from batchline.workers import JobState, enqueue_batch
from batchline.workers.app import BatchlineCelery
from tests.workers.helpers import conversations
from tests.workers.models import Person, calls, record_completion


@pytest.mark.parametrize(
    "model",
    [
        "openai/gpt-4.1-mini",
        "anthropic/claude-3-5-haiku-latest",
        "google/gemini-2.5-flash",
        "gemini/gemini-2.5-flash",
    ],
)
def test_job_runs_from_enqueue_to_callback_with_typed_results(
    service: BatchlineCelery, redis_client: redis.Redis, prefix: str, model: str
) -> None:
    handle = enqueue_batch(
        model,
        Person,
        conversations(12),
        max_tokens=100,
        metadata={"team": "billing"},
        callbacks=[record_completion],
        app=service,
    )

    assert handle.wait(timeout=30, callbacks=True) is JobState.CALLBACKS_DONE
    results = handle.results()
    assert len(results) == 12
    assert all(isinstance(r, BatchSuccess) and isinstance(r.result, Person) for r in results)
    assert [r.custom_id for r in results] == [f"{handle.id}-0-{i}" for i in range(12)]
    assert calls(redis_client, prefix, "calls", handle.id) == 1
    seen = redis_client.hgetall(f"{prefix}:test:seen:{handle.id}")
    assert seen["typed_successes"] == "12"
    summary = handle.summary()
    assert summary.outcome == "completed"
    assert summary.counts["succeeded"] == 12
    assert summary.callbacks[0]["state"] == "done"
