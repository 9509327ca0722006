"""``enqueue_batch``: fast, checked up front, and nothing but the job id in the broker."""

from __future__ import annotations

import base64
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from pydantic import BaseModel

from batchline.errors import InvalidRequestError, ResponseModelError, UnknownProviderError
from batchline.workers import JobState, enqueue_batch, get_job
from batchline.workers.app import BatchlineCelery
from tests.workers.helpers import conversations
from tests.workers.models import Person


def queued_messages(client: redis.Redis, app: BatchlineCelery) -> list[dict[str, Any]]:
    settings = app.runtime.settings
    raw = client.lrange(f"{settings.broker_key_prefix}{settings.queue}", 0, -1)
    return [orjson.loads(item) for item in raw]


def test_enqueueing_a_thousand_requests_takes_milliseconds_and_sends_only_ids(
    app: BatchlineCelery, redis_client: redis.Redis
) -> None:
    enqueue_batch("openai/gpt-4.1-mini", Person, conversations(1), app=app)  # connect once
    many = conversations(1000)

    started = time.perf_counter()
    handle = enqueue_batch("openai/gpt-4.1-mini", Person, many, metadata={"run": "1"}, app=app)
    elapsed = time.perf_counter() - started

    assert elapsed < 0.1, f"enqueueing took {elapsed * 1000:.0f} ms"
    job = handle.job()
    assert (job.state, job.request_count) == (JobState.QUEUED, 1000)
    assert redis_client.llen(app.runtime.keys.requests(handle.id)) == 1000
    messages = queued_messages(redis_client, app)
    assert len(messages) == 2
    assert {m["headers"]["task"] for m in messages} == {"batchline.submit_job"}
    bodies = [orjson.loads(base64.b64decode(m["body"])) for m in messages]
    assert [args for args, _, _ in bodies].count([handle.id]) == 1
    # Besides the job id, only what Flower shows an operator: provider and model.
    shown = {"provider": "openai", "model": "openai/gpt-4.1-mini"}
    assert all(len(args) == 1 and kwargs == shown for args, kwargs, _ in bodies)
    assert b"person 999" not in orjson.dumps(messages)


def test_requests_can_wait_in_a_file_instead_of_redis(
    app: BatchlineCelery, redis_client: redis.Redis, tmp_path: Path
) -> None:
    path = tmp_path / "requests.jsonl"
    handle = enqueue_batch(
        "anthropic/claude-3-5-haiku-latest", Person, conversations(5), requests_path=path, app=app
    )

    assert redis_client.exists(app.runtime.keys.requests(handle.id)) == 0
    assert len(path.read_bytes().splitlines()) == 5
    assert get_job(handle.id, app).job().requests_path == str(path)


class LocalOnly(BaseModel):
    name: str


def test_a_response_model_workers_cannot_import_is_refused_with_a_clear_error(
    app: BatchlineCelery,
) -> None:
    class Nested(BaseModel):
        name: str

    with pytest.raises(ResponseModelError, match="inside a function"):
        enqueue_batch("openai/gpt-4.1-mini", Nested, conversations(1), app=app)
    with pytest.raises(ResponseModelError, match="BaseModel"):
        enqueue_batch("openai/gpt-4.1-mini", dict, conversations(1), app=app)  # type: ignore[type-var]


@pytest.mark.parametrize(
    ("model", "messages", "error", "match"),
    [
        ("mistral/large", conversations(1), UnknownProviderError, "unknown provider"),
        ("gpt-4", conversations(1), InvalidRequestError, "provider/model-name"),
        ("openai/gpt-4.1-mini", [], InvalidRequestError, "empty"),
        (
            "openai/gpt-4.1-mini",
            [[{"role": "user", "content": "hi"}], []],
            InvalidRequestError,
            r"messages_list\[1\]",
        ),
    ],
)
def test_bad_jobs_are_refused_before_anything_is_queued(
    app: BatchlineCelery,
    redis_client: redis.Redis,
    model: str,
    messages: list[list[dict[str, str]]],
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        enqueue_batch(model, Person, messages, app=app)
    assert queued_messages(redis_client, app) == []
    assert redis_client.zcard(app.runtime.keys.jobs) == 0


def streamed_conversations(count: int, bad_at: int | None = None) -> Iterator[list[Any]]:
    """``count`` conversations made one at a time (as a caller reading a file would), with an
    invalid one at ``bad_at``."""
    for i in range(count):
        if i == bad_at:
            yield []
        else:
            yield [{"role": "user", "content": f"I am person {i}, {20 + i % 60} years old."}]


def test_enqueue_memory_does_not_grow_with_the_number_of_requests(
    app: BatchlineCelery, redis_client: redis.Redis
) -> None:
    enqueue_batch("openai/gpt-4.1-mini", Person, conversations(1), app=app)  # connect once

    def peak_bytes(count: int) -> int:
        tracemalloc.start()
        try:
            enqueue_batch("openai/gpt-4.1-mini", Person, streamed_conversations(count), app=app)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak_bytes(5_000), peak_bytes(50_000)

    # Ten times the requests (2.5 MB of them encoded) may not take ten times the memory: only
    # one chunk is ever held (a pipeline of every RPUSH held them all).
    assert large < small * 1.5, f"5,000 requests peaked at {small:,} B, 50,000 at {large:,} B"


def test_a_bad_request_half_way_leaves_no_requests_behind(
    app: BatchlineCelery, redis_client: redis.Redis
) -> None:
    with pytest.raises(InvalidRequestError, match=r"messages_list\[2500\]"):
        enqueue_batch(
            "openai/gpt-4.1-mini", Person, streamed_conversations(5_000, bad_at=2_500), app=app
        )

    assert list(redis_client.scan_iter(match=f"{app.runtime.keys.prefix}:job:*")) == []
    assert redis_client.zcard(app.runtime.keys.jobs) == 0
    assert queued_messages(redis_client, app) == []


def test_a_queued_jobs_requests_do_not_expire(
    app: BatchlineCelery, redis_client: redis.Redis
) -> None:
    handle = enqueue_batch("openai/gpt-4.1-mini", Person, streamed_conversations(2_500), app=app)

    key = app.runtime.keys.requests(handle.id)
    assert redis_client.llen(key) == 2_500
    assert redis_client.ttl(key) == -1  # the short TTL of an unfinished push is gone
