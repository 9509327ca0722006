"""``install(app)``: batchline inside the user's own Celery app.

The user's app lives in a temporary directory with a task of its own; ``celery -A <module>
worker`` and ``beat`` are real processes started there (no PYTHONPATH), with the user's broker
settings, and run a job beside the user's task.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import redis
from celery import Celery

from batchline.errors import AppConfigurationError
from batchline.sandbox import Sandbox
from batchline.workers import JobState, enqueue_batch, install
from batchline.workers.settings import get_worker_settings
from tests.workers.conftest import REDIS_URL, settings_env, settings_for
from tests.workers.helpers import conversations, started

CELERY = str(Path(sys.executable).with_name("celery"))

USER_APP = '''
"""A user's Celery app with a task of its own, and batchline installed into it."""
import os

import redis
from celery import Celery
from pydantic import BaseModel

from batchline.workers import install, on_batch_complete

app = Celery("proj", broker=os.environ["USER_BROKER_URL"])
app.conf.broker_transport_options = {
    "visibility_timeout": 7200,
    "global_keyprefix": os.environ["USER_BROKER_PREFIX"],
}
install(app)


class Contact(BaseModel):
    name: str
    age: int


def _push(line):
    redis.Redis.from_url(os.environ["REDIS_URL"]).rpush(os.environ["USER_CODE_KEY"], line)


@app.task
def add(x, y):
    _push(f"add:{x + y}")


@on_batch_complete
def remember(job):
    typed = sum(1 for r in job.results() if r.success and isinstance(r.result, Contact))
    _push(f"job:{job.id}:{typed}")
'''


@pytest.fixture
def project(
    tmp_path: Path, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ModuleType, dict[str, str]]]:
    """The user's module, imported here as their web process would, and its environment."""
    env = settings_env(settings_for(prefix))
    env.update(
        USER_BROKER_URL=REDIS_URL,
        USER_BROKER_PREFIX=f"{prefix}:user:",
        USER_CODE_KEY=f"{prefix}:seen",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_worker_settings.cache_clear()
    name = f"proj_{uuid.uuid4().hex[:8]}"
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / f"{name}.py").write_text(textwrap.dedent(USER_APP))
    monkeypatch.syspath_prepend(str(directory))
    module = __import__(name)
    yield module, env
    module.app.runtime.redis.close()
    sys.modules.pop(name, None)
    get_worker_settings.cache_clear()


def wait_for(client: redis.Redis, key: str, count: int, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while client.llen(key) < count:
        assert time.monotonic() < deadline, f"only {client.lrange(key, 0, -1)} arrived"
        time.sleep(0.1)
    return [str(item) for item in client.lrange(key, 0, -1)]


def test_the_users_own_worker_and_beat_run_a_job_beside_the_users_task(
    project: tuple[ModuleType, dict[str, str]], sandbox: Sandbox, redis_client: redis.Redis
) -> None:
    module, user_env = project
    cwd = Path(module.__file__).parent
    env = {**os.environ, **sandbox.env, **user_env}
    env.pop("PYTHONPATH", None)  # celery -A finds the module in its working directory
    name = module.__name__
    # No -Q: install() makes the user's worker consume batchline's queue besides its own.
    worker = [CELERY, "-A", name, "worker", "-P", "threads", "-c", "4", "--without-mingle"]
    beat = [CELERY, "-A", name, "beat", "-s", str(cwd / "beat-schedule")]
    with started(worker, env, cwd, cwd / "worker.log"), started(beat, env, cwd, cwd / "beat.log"):
        module.add.delay(2, 3)  # the user's own task, on the same worker
        handle = enqueue_batch(
            "openai/gpt-4.1-mini",
            module.Contact,
            conversations(3),
            callbacks=[module.remember],
            app=module.app,
        )
        assert handle.wait(timeout=60, callbacks=True) is JobState.CALLBACKS_DONE
        seen = wait_for(redis_client, user_env["USER_CODE_KEY"], 2)
    assert sorted(seen) == ["add:5", f"job:{handle.id}:3"]


def test_install_keeps_batchlines_safety_per_task_and_the_users_defaults(
    project: tuple[ModuleType, dict[str, str]],
) -> None:
    module, _ = project
    app = module.app
    assert not app.conf.task_acks_late  # the user's default, untouched
    assert not app.tasks[f"{module.__name__}.add"].acks_late
    for name in ("batchline.submit_job", "batchline.complete_job", "batchline.run_callback"):
        task = app.tasks[name]
        assert (task.acks_late, task.reject_on_worker_lost, task.serializer) == (True, True, "json")
    assert {entry["task"] for entry in app.conf.beat_schedule.values()} == {
        "batchline.poll_provider",
        "batchline.sweep_jobs",
    }


def test_install_refuses_an_app_that_accepts_pickle(prefix: str) -> None:
    app = Celery("picklish", broker=REDIS_URL)
    app.conf.accept_content = ["json", "pickle"]
    with pytest.raises(AppConfigurationError, match="accepts pickle in accept_content"):
        install(app, settings_for(prefix))
    assert "batchline.submit_job" not in app.tasks


def test_install_refuses_a_visibility_timeout_shorter_than_batchlines_longest_task(
    prefix: str,
) -> None:
    app = Celery("hasty", broker=REDIS_URL)
    app.conf.broker_transport_options = {"visibility_timeout": 600}
    settings = settings_for(prefix, task_time_limit=3600, visibility_timeout=7200)
    with pytest.raises(AppConfigurationError, match=r"visibility_timeout of 600 s.*3600 s"):
        install(app, settings)
    # Celery's one-hour default is no longer than a one-hour task either.
    with pytest.raises(AppConfigurationError, match="visibility_timeout of 3600 s"):
        install(Celery("defaults", broker=REDIS_URL), settings)
