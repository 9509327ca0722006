"""The user's own model and callback modules load where they run ``batchline worker``.

The modules live in a temporary directory, not in our tests package, and the worker and beat
are real ``batchline`` processes started in it, with no PYTHONPATH pointing there.
"""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pydantic
import pytest
import redis

from batchline.errors import JobFailedError, ResponseModelError
from batchline.sandbox import Sandbox
from batchline.workers import JobState, enqueue_batch, on_batch_complete, task
from batchline.workers.app import BatchlineCelery
from tests.workers.conftest import settings_env
from tests.workers.helpers import conversations, started

BATCHLINE = str(Path(sys.executable).with_name("batchline"))

USER_MODULE = '''
"""A user's jobs module: a response model, a registered callback and a Celery task."""
import os

import redis
from pydantic import BaseModel

from batchline.workers import on_batch_complete
from batchline.workers.app import app


class Contact(BaseModel):
    name: str
    age: int


@on_batch_complete
def remember(job):
    typed = sum(1 for r in job.results() if r.success and isinstance(r.result, Contact))
    job.app.runtime.redis.rpush(os.environ["USER_CODE_KEY"], f"function:{job.id}:{typed}")


@app.task(name="{module}.notify")
def notify(job_id, summary):
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.rpush(os.environ["USER_CODE_KEY"], f"task:{job_id}:{summary['state']}")
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """``userjobs_<random>.py`` in a directory of its own, imported here as the user would."""
    name = f"userjobs_{uuid.uuid4().hex[:8]}"
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / f"{name}.py").write_text(textwrap.dedent(USER_MODULE).replace("{module}", name))
    monkeypatch.syspath_prepend(str(directory))
    module = __import__(name)
    yield module
    sys.modules.pop(name, None)


@contextmanager
def service(
    app: BatchlineCelery, sandbox: Sandbox, cwd: Path, key: str, *extra: str
) -> Iterator[None]:
    """A real ``batchline worker`` and ``batchline beat`` started in ``cwd``."""
    env = {**os.environ, **sandbox.env, **settings_env(app.runtime.settings)}
    env["USER_CODE_KEY"] = key
    env.pop("PYTHONPATH", None)  # only the working directory makes the module importable
    worker = [BATCHLINE, "worker", "--concurrency=4", "--", "--without-mingle", *extra]
    beat = [BATCHLINE, "beat", "--schedule", str(cwd / "beat-schedule")]
    with (
        started(worker, env, cwd, cwd / "worker.log"),
        started(beat, env, cwd, cwd / "beat.log"),
    ):
        yield


def test_a_worker_started_in_the_project_runs_its_model_and_callback(
    app: BatchlineCelery, sandbox: Sandbox, project: ModuleType, redis_client: redis.Redis
) -> None:
    key = f"{app.runtime.keys.prefix}:test:user-code"
    cwd = Path(project.__file__).parent
    with service(app, sandbox, cwd, key):
        handle = enqueue_batch(
            "openai/gpt-4.1-mini",
            project.Contact,
            conversations(3),
            callbacks=[project.remember],
            app=app,
        )
        assert handle.wait(timeout=90, callbacks=True) is JobState.CALLBACKS_DONE
    assert redis_client.lrange(key, 0, -1) == [f"function:{handle.id}:3"]
    assert all(isinstance(result.result, project.Contact) for result in handle.results())


def test_include_imports_the_users_tasks_at_start(
    app: BatchlineCelery, sandbox: Sandbox, project: ModuleType, redis_client: redis.Redis
) -> None:
    key = f"{app.runtime.keys.prefix}:test:user-code"
    cwd = Path(project.__file__).parent
    with service(app, sandbox, cwd, key, "--include", project.__name__):
        handle = enqueue_batch(
            "anthropic/claude-3-5-sonnet-20241022",
            project.Contact,
            conversations(2),
            # A Celery task is known to the worker only if its module was imported at start.
            callbacks=[task(f"{project.__name__}.notify")],
            app=app,
        )
        assert handle.wait(timeout=90, callbacks=True) is JobState.CALLBACKS_DONE
        deadline_hit = redis_client.blpop([key], timeout=30)
    assert deadline_hit is not None
    assert deadline_hit[1] == f"task:{handle.id}:results_stored"


def test_a_worker_that_cannot_import_the_model_fails_the_job_as_a_configuration_error(
    app: BatchlineCelery,
    sandbox: Sandbox,
    project: ModuleType,
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with service(app, sandbox, elsewhere, "unused"):
        handle = enqueue_batch(
            "google/gemini-2.5-flash", project.Contact, conversations(2), app=app
        )
        with pytest.raises(JobFailedError) as failed:
            handle.wait(timeout=90)
    message = str(failed.value)
    assert f"the workers could not import the response model {project.__name__}.Contact" in message
    assert f"--include {project.__name__}" in message and "PYTHONPATH" in message
    results = handle.results()
    assert [r.error_type for r in results] == ["configuration_error"] * 2  # type: ignore[union-attr]
    assert handle.job().counts.get("provider_error") is None


def test_a_model_defined_in_main_or_a_function_is_refused_at_enqueue(app: BatchlineCelery) -> None:
    scripted = pydantic.create_model("Scripted", name=(str, ...))
    scripted.__module__ = "__main__"  # as if defined in the script being run
    with pytest.raises(ResponseModelError, match="defined in __main__"):
        enqueue_batch("openai/gpt-4.1-mini", scripted, conversations(1), app=app)

    class Nested(pydantic.BaseModel):
        name: str

    with pytest.raises(ResponseModelError, match="defined inside a function"):
        enqueue_batch("openai/gpt-4.1-mini", Nested, conversations(1), app=app)

    def nested_callback(job: object) -> None: ...

    with pytest.raises(ResponseModelError, match="must be defined at module level"):
        on_batch_complete(nested_callback)
