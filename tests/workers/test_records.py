"""Job and shard records keep their types through Redis: one codec, strings only in Redis."""

from __future__ import annotations

import orjson
import redis

from batchline.batching.status import BatchStatus
from batchline.workers import JobState, task, webhook
from batchline.workers.callbackspec import CallbackKind
from batchline.workers.jobs import Job, Shard, ShardState
from batchline.workers.keys import Keys
from batchline.workers.stores.jobs import JobStore


def a_job(**fields: object) -> Job:
    values: dict[str, object] = {
        "id": "0123456789abcdef",
        "model": "openai/gpt-4.1-mini",
        "provider": "openai",
        "response_model": "tests.workers.models:Person",
        "request_count": 3,
    }
    values.update(fields)
    return Job(**values)  # type: ignore[arg-type]


def test_a_job_comes_back_from_redis_exactly_as_it_went_in(
    redis_client: redis.Redis, prefix: str
) -> None:
    store = JobStore(redis_client, Keys(prefix))
    job = a_job(
        state=JobState.EXPIRED,
        outcome=JobState.EXPIRED,
        temperature=0.25,
        metadata={"team": "billing"},
        provider_options={"service_tier": "flex", "nested": {"a": [1, 2]}},
        callbacks=[webhook("https://example.test/hook"), task("app.done", queue="q")],
        cancel_requested=True,
        counts={"succeeded": 2, "expired": 1},
        finished_at=1_700_000_000.5,
    )

    store.create(job)
    loaded = store.load(job.id)

    assert loaded == job
    assert loaded.callbacks[1].kind is CallbackKind.TASK
    assert loaded.outcome is JobState.EXPIRED


def test_unset_optional_values_stay_none(redis_client: redis.Redis, prefix: str) -> None:
    store = JobStore(redis_client, Keys(prefix))
    job = a_job(temperature=None)  # None: the model's own default (the shared default is 0.1)

    store.create(job)
    loaded = store.load(job.id)

    assert loaded.temperature is None and loaded.outcome is None
    assert loaded.callbacks == [] and loaded.cancel_requested is False


def test_redis_holds_only_strings_with_enums_as_their_values(
    redis_client: redis.Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    job = a_job(
        callbacks=[webhook("https://example.test/hook")], outcome=JobState.FAILED, temperature=None
    )

    JobStore(redis_client, keys).create(job)
    raw = redis_client.hgetall(keys.job(job.id))

    assert raw["state"] == "queued" and raw["outcome"] == "failed"
    assert raw["temperature"] == ""
    assert orjson.loads(raw["callbacks"]) == [
        {"kind": "webhook", "target": "https://example.test/hook", "queue": None}
    ]


def test_a_record_written_with_fewer_fields_takes_the_defaults(
    redis_client: redis.Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    job = a_job()
    redis_client.hset(
        keys.job(job.id),
        mapping={
            "id": job.id,
            "model": job.model,
            "provider": job.provider,
            "response_model": job.response_model,
            "request_count": "3",
            "state": "submitted",
        },
    )

    loaded = JobStore(redis_client, keys).load(job.id)

    assert loaded.state is JobState.SUBMITTED
    assert loaded.max_tokens == 1000 and loaded.metadata == {} and loaded.outcome is None


def test_planned_shards_are_typed_and_keep_their_status(
    redis_client: redis.Redis, prefix: str
) -> None:
    store = JobStore(redis_client, Keys(prefix))
    job = a_job()
    store.create(job)

    assert store.plan_shards(job, [(0, 2), (2, 3)]) == 2
    assert store.plan_shards(job, [(0, 3)]) == 2  # a redelivered submit keeps the first plan
    assert store.transition_shard(
        job.id,
        1,
        ShardState.SUBMITTED,
        from_states=(ShardState.PENDING,),
        batch_id="batch_1",
        status=BatchStatus.VALIDATING,
    )

    first, second = store.load_shards(job)
    assert first == Shard(0, 0, 2)
    assert second == Shard(1, 2, 3, ShardState.SUBMITTED, "batch_1", BatchStatus.VALIDATING)
    assert first.status is None and second.status is BatchStatus.VALIDATING
