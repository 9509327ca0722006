"""No credential ever lands in Redis: not in task messages, results, job records or events."""

from __future__ import annotations

import redis

from batchline.sandbox import Sandbox
from batchline.sandbox.server import ANTHROPIC_KEY, GOOGLE_TOKEN, OPENAI_KEY
from batchline.workers import JobState, enqueue_batch
from batchline.workers.app import BatchlineCelery
from tests.workers.conftest import WEBHOOK_SECRET
from tests.workers.helpers import conversations, webhook_receiver
from tests.workers.models import Person, record_completion

MODELS = ["openai/gpt-4.1-mini", "anthropic/claude-3-5-haiku-latest", "google/gemini-2.5-flash"]


def everything_under(client: redis.Redis, prefix: str) -> dict[str, str]:
    """Every key under ``prefix`` (batchline's and kombu's), with its whole value as text."""
    dump: dict[str, str] = {}
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        kind = client.type(key)
        if kind == "string":
            value: object = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            value = kind
        dump[key] = repr(value)
    return dump


def test_no_credential_appears_anywhere_in_redis(
    service: BatchlineCelery, sandbox: Sandbox, redis_client: redis.Redis, prefix: str
) -> None:
    with webhook_receiver() as receiver:
        handles = [
            enqueue_batch(
                model,
                Person,
                conversations(3),
                callbacks=[record_completion, receiver.url],
                app=service,
            )
            for model in MODELS
        ]
        for handle in handles:
            assert handle.wait(timeout=40, callbacks=True) is JobState.CALLBACKS_DONE

    dump = everything_under(redis_client, prefix)
    assert any("celery-task-meta" in key for key in dump), "task results should be scanned too"
    assert any(key.endswith(":results") for key in dump)
    secrets = [OPENAI_KEY, ANTHROPIC_KEY, GOOGLE_TOKEN, WEBHOOK_SECRET]
    assert set(sandbox.env.values()) >= {OPENAI_KEY, ANTHROPIC_KEY, GOOGLE_TOKEN}
    leaks = [(key, s) for key, text in dump.items() for s in secrets if s in text]
    assert leaks == []
