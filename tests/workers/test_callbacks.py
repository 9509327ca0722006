"""Completion callbacks: every kind fires once, failures are retried with backoff and
recorded, and one failing callback never holds up the others."""

from __future__ import annotations

import time

import orjson
import pytest
import redis

from batchline.workers import JobState, enqueue_batch, task, verify_signature, webhook
from batchline.workers.app import BatchlineCelery
from batchline.workers.callbacks import FireResult, fire, sign
from batchline.workers.completion import complete_job
from tests.workers.conftest import WEBHOOK_SECRET, running
from tests.workers.helpers import conversations, webhook_receiver
from tests.workers.models import Person, always_fail, calls, fail_twice, record_completion


def test_failing_callbacks_are_retried_while_the_others_fire_once(
    app: BatchlineCelery, redis_client: redis.Redis, prefix: str
) -> None:
    summaries_key = f"{prefix}:test:task-summaries"

    @app.task(name="tests.capture_summary", shared=False)
    def capture_summary(job_id: str, summary: dict[str, object]) -> None:
        redis_client.rpush(summaries_key, orjson.dumps([job_id, summary]))

    with webhook_receiver(statuses=[503]) as receiver, running(app):
        handle = enqueue_batch(
            "openai/gpt-4.1-mini",
            Person,
            conversations(6),
            callbacks=[
                fail_twice,
                always_fail,
                record_completion,
                webhook(receiver.url),
                task("tests.capture_summary"),
            ],
            app=app,
        )
        assert handle.wait(timeout=30, callbacks=True) is JobState.CALLBACKS_DONE

    states = {entry["target"]: entry for entry in handle.summary().callbacks}
    flaky = states["tests.workers.models:fail_twice"]
    assert (flaky["state"], flaky["attempts"]) == ("done", 3)
    doomed = states["tests.workers.models:always_fail"]
    assert (doomed["state"], doomed["attempts"]) == ("failed", 4)
    assert "this callback never works" in doomed["last_error"]
    assert "always_fail" in handle.job().last_error
    assert states["tests.workers.models:record_completion"]["attempts"] == 1
    assert (states[receiver.url]["state"], states[receiver.url]["attempts"]) == ("done", 2)
    assert states["tests.capture_summary"]["state"] == "done"

    assert calls(redis_client, prefix, "flaky", handle.id) == 3
    assert calls(redis_client, prefix, "doomed", handle.id) == 4
    assert calls(redis_client, prefix, "calls", handle.id) == 1
    assert len(receiver.deliveries) == 2
    [(job_id, summary)] = [orjson.loads(item) for item in redis_client.lrange(summaries_key, 0, -1)]
    assert job_id == handle.id
    assert summary["counts"]["succeeded"] == 6


def test_webhook_is_signed_and_carries_what_loads_typed_results(
    service: BatchlineCelery,
) -> None:
    with webhook_receiver() as receiver:
        handle = enqueue_batch(
            "anthropic/claude-3-5-haiku-latest",
            Person,
            conversations(3),
            callbacks=[receiver.url],
            app=service,
        )
        assert receiver.arrived.wait(timeout=30)

    [delivery] = receiver.deliveries
    headers = {name.lower(): value for name, value in delivery.headers.items()}
    signature = headers["x-batchline-signature"]
    timestamp = headers["x-batchline-timestamp"]
    assert signature.startswith("sha256=")
    assert verify_signature(WEBHOOK_SECRET, delivery.body, signature, timestamp)
    assert not verify_signature(WEBHOOK_SECRET, delivery.body + b" ", signature, timestamp)
    assert not verify_signature("another-secret", delivery.body, signature, timestamp)
    assert headers["x-batchline-delivery"] == f"{handle.id}:0"

    payload = orjson.loads(delivery.body)
    assert payload["event"] == "batchline.job.finished"
    assert payload["job"]["id"] == handle.id
    assert payload["job"]["response_model"] == "tests.workers.models:Person"
    results = handle.results()
    assert [type(r.result) for r in results if r.success] == [Person] * 3


def test_a_signature_expires_and_cannot_be_moved_to_another_time() -> None:
    body = b'{"event": "batchline.job.finished"}'
    sent_at = 1_700_000_000
    signature = sign(WEBHOOK_SECRET, body, sent_at)

    assert verify_signature(WEBHOOK_SECRET, body, signature, str(sent_at), now=sent_at + 10)
    assert not verify_signature(WEBHOOK_SECRET, body, signature, str(sent_at), now=sent_at + 301)
    assert not verify_signature(WEBHOOK_SECRET, body, signature, sent_at + 5, now=sent_at + 10)
    assert not verify_signature(WEBHOOK_SECRET, body, None, sent_at, now=sent_at)
    assert not verify_signature(WEBHOOK_SECRET, body, signature, "not-a-time", now=sent_at)


def test_callbacks_fire_once_when_completion_and_callbacks_are_delivered_again(
    service: BatchlineCelery, redis_client: redis.Redis, prefix: str
) -> None:
    handle = enqueue_batch(
        "google/gemini-2.5-flash",
        Person,
        conversations(2),
        callbacks=[record_completion],
        app=service,
    )
    assert handle.wait(timeout=30, callbacks=True) is JobState.CALLBACKS_DONE

    rt = service.runtime
    assert complete_job(rt, handle.id) is JobState.CALLBACKS_DONE  # a redelivered completion
    assert fire(rt, handle.id, 0, owner="a-duplicate-task", attempt=0) == (FireResult.SKIPPED, "")
    assert calls(redis_client, prefix, "calls", handle.id) == 1
    assert handle.status() is JobState.CALLBACKS_DONE


def test_a_webhook_without_a_secret_fails_for_good_and_the_job_still_ends(
    make_app: object, redis_client: redis.Redis, prefix: str
) -> None:
    app = make_app(webhook_secret=None)  # type: ignore[operator]
    with webhook_receiver() as receiver, running(app):
        handle = enqueue_batch(
            "openai/gpt-4.1-mini", Person, conversations(1), callbacks=[receiver.url], app=app
        )
        started = time.monotonic()
        assert handle.wait(timeout=30, callbacks=True) is JobState.CALLBACKS_DONE

    [entry] = handle.summary().callbacks
    assert (entry["state"], entry["attempts"]) == ("failed", 1)
    assert "BATCHLINE_WEBHOOK_SECRET" in entry["last_error"]
    assert receiver.deliveries == []
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("bad", ["ftp://example.com/hook", ""])
def test_unusable_callbacks_are_refused_at_enqueue(app: BatchlineCelery, bad: str) -> None:
    from batchline.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError):
        enqueue_batch("openai/gpt-4.1-mini", Person, conversations(1), callbacks=[bad], app=app)
