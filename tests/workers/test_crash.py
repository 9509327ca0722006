"""Workers SIGKILLed at the worst moments: the job still ends with one provider batch, every
result stored once, and its callback fired once.

The killed worker is a real ``celery worker`` process (``tests.workers.crashapp`` freezes it at
the chosen point); the one that takes over is a real ``batchline worker`` process, which gets
the killed worker's unacknowledged message back from Redis after the visibility timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from celery.beat import EmbeddedService

from batchline.batching import BatchSuccess
from batchline.batching.providers import BatchMark
from batchline.sandbox import Sandbox
from batchline.workers import JobState, enqueue_batch
from batchline.workers.app import BatchlineCelery
from batchline.workers.runtime import META_JOB
from batchline.workers.settings import WorkerSettings
from tests.workers.conftest import MakeApp, settings_env
from tests.workers.helpers import conversations
from tests.workers.models import Person, calls, record_completion

ROOT = Path(__file__).resolve().parents[2]
BATCHLINE = Path(sys.executable).with_name("batchline")

#: Redelivery after a kill must come quickly, yet after the longest task: a cold worker's first
#: task imports a provider SDK, which takes seconds on a loaded machine. A shorter visibility
#: timeout makes Redis hand the message to a second worker while the first still runs (also
#: survivable, but not what these tests are about). The claim grace must exceed the longest
#: submit call for the same reason.
CRASH_SETTINGS = {
    "visibility_timeout": 8,
    "task_time_limit": 7,
    "submit_grace": 6.0,
    "results_chunk_size": 4,
}


def worker_env(settings: WorkerSettings, sandbox: Sandbox, **extra: str) -> dict[str, str]:
    """The environment that gives a worker process exactly ``settings``."""
    return {**os.environ, **sandbox.env, **settings_env(settings), **extra, "PYTHONPATH": str(ROOT)}


@contextmanager
def process(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as sink:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@contextmanager
def beat(app: BatchlineCelery) -> Iterator[None]:
    ticker = EmbeddedService(app, thread=True, scheduler_cls="celery.beat:Scheduler")
    ticker.start()
    try:
        yield
    finally:
        ticker.stop()


def wait_for_key(client: redis.Redis, key: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while (value := client.get(key)) is None:
        assert time.monotonic() < deadline, f"{key} never appeared"
        time.sleep(0.05)
    return str(value)


def batches_of_job(app: BatchlineCelery, model: str, job_id: str) -> list[str]:
    """Ids of the provider batches that carry the job, read from the provider's list."""
    provider = app.runtime.provider(model.partition("/")[0])
    # Every shard's batch carries the job in its metadata and its custom ids' prefix.
    mark = BatchMark(metadata={META_JOB: job_id}, custom_id_prefix=f"{job_id}-")
    return [info.id for info in provider.find_marked(mark, limit=100).matching]


@pytest.mark.parametrize(
    ("point", "model"),
    [
        ("after_submit", "openai/gpt-4.1-mini"),
        ("after_submit", "anthropic/claude-3-5-haiku-latest"),
        ("before_submit", "openai/gpt-4.1-mini"),
        ("mid_results", "openai/gpt-4.1-mini"),
    ],
)
def test_a_worker_killed_mid_job_costs_one_batch_and_one_callback(
    make_app: MakeApp,
    sandbox: Sandbox,
    redis_client: redis.Redis,
    prefix: str,
    tmp_path: Path,
    point: str,
    model: str,
) -> None:
    app = make_app(**CRASH_SETTINGS)
    settings = app.runtime.settings
    env = worker_env(settings, sandbox)
    crash_worker = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tests.workers.crashapp",
        "worker",
        "--pool=threads",
        "--concurrency=2",
        f"--queues={settings.queue}",
        "--without-mingle",
        "--without-gossip",
        "--loglevel=INFO",
    ]
    handle = enqueue_batch(model, Person, conversations(12), callbacks=[record_completion], app=app)

    with beat(app):
        with process(
            crash_worker,
            {
                **env,
                "TMPDIR": str(tmp_path),  # where the killed worker leaves its request file
                "BATCHLINE_TEST_CRASH_POINT": point,
                "BATCHLINE_TEST_PROVIDER": model.partition("/")[0],
            },
            tmp_path / "killed.log",
        ) as doomed:
            wait_for_key(redis_client, f"{prefix}:test:crash-point")
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
        claim = str(redis_client.get(app.runtime.keys.submit_claim(handle.id, 0)) or "")
        if point != "mid_results":
            assert claim.startswith("claimed:"), "the kill must land between claim and record"

        with process(
            [str(BATCHLINE), "worker", "--concurrency=4", "--without-mingle"],
            env,
            tmp_path / "rescue.log",
        ):
            assert handle.wait(timeout=60, callbacks=True) is JobState.CALLBACKS_DONE

    [shard] = handle.summary().shards
    assert batches_of_job(app, model, handle.id) == [shard["batch_id"]]
    assert redis_client.get(app.runtime.keys.submit_claim(handle.id, 0)) == shard["batch_id"]
    results = handle.results()
    assert len(results) == 12 and all(isinstance(r, BatchSuccess) for r in results)
    assert redis_client.hlen(app.runtime.keys.results(handle.id)) == 12
    assert calls(redis_client, prefix, "calls", handle.id) == 1
