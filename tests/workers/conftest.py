"""Worker test fixtures: a private key prefix, queue and kombu prefix per test on a real Redis,
an in-process threads worker, and a real beat in a thread.

Every test gets its own prefix, so tests can run in parallel (``-n 2``) against one Redis and
clean up exactly what they wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from celery.beat import EmbeddedService
from celery.contrib.testing.worker import start_worker

from batchline.sandbox import Sandbox
from batchline.workers.app import BatchlineCelery, create_app
from batchline.workers.settings import WorkerSettings

#: Redis database of the worker tests (the shared server's DB 0 stays untouched).
TEST_DB = 9
REDIS_URL = f"redis://127.0.0.1:6379/{TEST_DB}"
WEBHOOK_SECRET = "whsec-test-0123456789"

#: Quick but realistic timings: sub-second polls and retries, a short claim grace.
FAST = {
    "poll_interval": 0.25,
    "poll_lease": 5.0,
    "retry_backoff": 0.1,
    "retry_backoff_max": 1.0,
    "max_retries": 8,
    "callback_max_retries": 4,
    "visibility_timeout": 60,
    "task_time_limit": 30,
    "unacked_restore_interval": 1,
    "allow_volatile_redis": True,
    "submit_grace": 3.0,
    "provider_rate_limit": 100.0,
    "worker_concurrency": 4,
    "webhook_secret": WEBHOOK_SECRET,
}


def settings_for(prefix: str, **overrides: Any) -> WorkerSettings:
    values: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "key_prefix": prefix,
        "queue": f"{prefix}.q",
        "broker_key_prefix": f"{prefix}:kombu:",
        **FAST,
        **overrides,
    }
    return WorkerSettings(**values)


def settings_env(settings: WorkerSettings) -> dict[str, str]:
    """Environment variables that make ``WorkerSettings()`` equal ``settings`` in another
    process (or in a CLI command)."""
    return settings.as_env()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix private to this test; every key under it is deleted afterwards."""
    value = f"bltest-{uuid.uuid4().hex[:12]}"
    yield value
    doomed = list(redis_client.scan_iter(match=f"{value}*", count=1000))
    if doomed:
        redis_client.delete(*doomed)


#: Builds this test's Celery app; keyword arguments override settings.
MakeApp = Callable[..., BatchlineCelery]


@pytest.fixture
def make_app(sandbox: Sandbox, prefix: str) -> Iterator[MakeApp]:
    apps: list[BatchlineCelery] = []

    def build(**overrides: Any) -> BatchlineCelery:
        app = create_app(settings_for(prefix, **overrides))
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.runtime.redis.close()
        app.close()


@pytest.fixture
def app(make_app: MakeApp) -> BatchlineCelery:
    return make_app()


@contextmanager
def running(app: BatchlineCelery, *, beat: bool = True, concurrency: int = 4) -> Iterator[None]:
    """An in-process threads worker (and beat) consuming this app's private queue."""
    with start_worker(
        app,
        pool="threads",
        concurrency=concurrency,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=10,
    ):
        ticker = EmbeddedService(app, thread=True, scheduler_cls="celery.beat:Scheduler")
        if beat:
            ticker.start()
        try:
            yield
        finally:
            if beat:
                ticker.stop()


@pytest.fixture
def service(app: BatchlineCelery) -> Iterator[BatchlineCelery]:
    """``app`` with a worker and beat running."""
    with running(app):
        yield app
