"""Redis restarted under live workers: the same worker processes keep running, the callbacks
that were running when it went down fire once, and jobs enqueued afterwards complete.

Everything is real: a private ``redis-server`` with an append-only file (never the shared one),
two ``batchline worker`` processes and a ``batchline beat`` process, the sandbox through the
official SDKs.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchline.sandbox import Sandbox
from batchline.workers import JobState, broker, enqueue_batch
from batchline.workers.app import BatchlineCelery, create_app
from benchmarks.faultrig import PrivateRedis, Service
from tests.workers.conftest import MakeApp, settings_for
from tests.workers.helpers import conversations
from tests.workers.models import Person, calls, slow_completion

pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]

MODEL = "openai/gpt-4.1-mini"
#: Short enough that a message whose acknowledgement was lost comes back within the test.
RESTART_SETTINGS = {"visibility_timeout": 20, "task_time_limit": 15}


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_app(private_redis: PrivateRedis, prefix: str) -> Iterator[BatchlineCelery]:
    app = create_app(settings_for(prefix, redis_url=private_redis.url, **RESTART_SETTINGS))
    yield app
    app.runtime.redis.close()
    app.close()


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_workers_outlive_a_redis_restart_and_running_callbacks_fire_once(
    private_app: BatchlineCelery,
    private_redis: PrivateRedis,
    sandbox: Sandbox,
    prefix: str,
    tmp_path: Path,
) -> None:
    service = Service(private_app.runtime.settings, sandbox.env, tmp_path)
    names = ["worker-a", "worker-b", "beat"]
    try:
        pids = {name: service.start(name).pid for name in names}
        wait_until(
            lambda: all("ready." in service.log(n) for n in names[:2]), 120, "workers never ready"
        )
        before = [
            enqueue_batch(
                MODEL, Person, conversations(3), callbacks=[slow_completion], app=private_app
            )
            for _ in range(4)
        ]
        redis = private_app.runtime.redis
        wait_until(
            lambda: sum(calls(redis, prefix, "started", h.id) for h in before) >= 2,
            120,
            "no callback was running",
        )

        private_redis.restart(signal.SIGTERM)
        time.sleep(5)  # the workers notice, reconnect and go on

        assert {n: p.pid for n, p in service.procs.items() if p.poll() is None} == pids
        after = [
            enqueue_batch(
                MODEL, Person, conversations(3), callbacks=[slow_completion], app=private_app
            )
            for _ in range(2)
        ]
        for handle in [*after, *before]:
            assert handle.wait(timeout=90, callbacks=True) is JobState.CALLBACKS_DONE
        assert [calls(redis, prefix, "calls", h.id) for h in [*before, *after]] == [1] * 6
        assert {n: p.pid for n, p in service.procs.items() if p.poll() is None} == pids
    finally:
        service.stop_all()
    for name in names:
        assert "Unrecoverable error" not in service.log(name)


@pytest.mark.parametrize(("visibility", "lock"), [(8, 1), (60, 6), (6 * 3600, 300)])
def test_kombus_restore_lock_lives_a_tenth_of_the_visibility_timeout(
    make_app: MakeApp, visibility: int, lock: int
) -> None:
    app = make_app(visibility_timeout=visibility, task_time_limit=visibility - 1)
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(connection.transport, broker.Transport)
        assert channel.unacked_mutex_expire == lock
        assert channel.visibility_timeout == visibility
