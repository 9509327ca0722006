"""examples/django_app end to end: Django's test client posts to the view, which enqueues a
job on the project's Celery app; the project's own ``celery -A shop worker`` and ``beat`` (real
processes, started in the example's directory) run it against the sandbox, and the completion
callback writes the typed results into PostgreSQL through the Django model."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from batchline.sandbox import Sandbox
from batchline.workers import JobState, get_job
from batchline.workers.settings import get_worker_settings
from tests.workers.conftest import REDIS_URL, settings_env, settings_for
from tests.workers.helpers import started

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "django_app"
CELERY = str(Path(sys.executable).with_name("celery"))
#: The machine's PostgreSQL (trust auth); each run gets a database of its own, dropped after.
POSTGRES = "host=127.0.0.1 port=5432 dbname=test user=postgres"


@pytest.fixture
def database() -> Iterator[str]:
    name = f"bltest_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_the_django_view_enqueues_and_the_callback_writes_rows(
    database: str,
    prefix: str,
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = settings_env(settings_for(prefix))
    env.update(
        POSTGRES_DB=database,
        CELERY_BROKER_URL=REDIS_URL,
        CELERY_BROKER_PREFIX=f"{prefix}:django:",
        DJANGO_SETTINGS_MODULE="shop.settings",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    get_worker_settings.cache_clear()

    import django
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client

    django.setup()
    from contacts.models import ExtractedContact
    from shop.celery import app

    try:
        call_command("migrate", verbosity=0)
        children = {**os.environ, **sandbox.env, **env}
        children.pop("PYTHONPATH", None)  # celery -A finds the project in its directory
        worker = [CELERY, "-A", "shop", "worker", "-P", "threads", "-c", "4", "--without-mingle"]
        beat = [CELERY, "-A", "shop", "beat", "-s", str(tmp_path / "beat-schedule")]
        texts = ["I am Ada, 36.", "Grace here, 45 years old.", "Alan, aged 41."]
        with (
            started(worker, children, EXAMPLE, tmp_path / "worker.log"),
            started(beat, children, EXAMPLE, tmp_path / "beat.log"),
        ):
            client = Client()
            response = client.post(
                "/contacts/extract", json.dumps({"texts": texts}), content_type="application/json"
            )
            assert response.status_code == 202
            job_id = response.json()["job_id"]
            handle = get_job(job_id, app=app)
            assert handle.wait(timeout=60, callbacks=True) is JobState.CALLBACKS_DONE

        rows = list(ExtractedContact.objects.filter(job_id=job_id).order_by("custom_id"))
        assert [row.custom_id for row in rows] == [f"{job_id}-0-{i}" for i in range(3)]
        typed = {r.custom_id: r.result for r in handle.results() if r.success}
        assert [(row.name, row.age) for row in rows] == [
            (typed[row.custom_id].name, typed[row.custom_id].age) for row in rows
        ]
        status = client.get(f"/contacts/jobs/{job_id}").json()
        assert status["state"] == "callbacks_done"
        assert len(status["contacts"]) == 3
        assert client.post("/contacts/extract", "{}", content_type="application/json").json() == {
            "error": "texts must be a non-empty list of strings"
        }
    finally:
        app.runtime.redis.close()
        connections.close_all()
        get_worker_settings.cache_clear()
