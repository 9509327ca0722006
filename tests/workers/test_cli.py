"""``batchline jobs list|show|results|cancel`` read the workers' Redis and print tables."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import redis
from typer.testing import CliRunner

from batchline.cli import app as cli
from batchline.sandbox import Faults, Sandbox
from batchline.workers import JobState, enqueue_batch
from batchline.workers.app import BatchlineCelery
from batchline.workers.routing import queue_of
from batchline.workers.tasknames import POLL_PROVIDER
from tests.conftest import TEST_COMPLETION_DELAY
from tests.workers.conftest import settings_env
from tests.workers.helpers import conversations
from tests.workers.models import Person

runner = CliRunner()
BATCHLINE = Path(sys.executable).with_name("batchline")


@pytest.fixture
def cli_env(app: BatchlineCelery, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in settings_env(app.runtime.settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")


def test_list_show_and_results_describe_a_finished_job(
    service: BatchlineCelery, cli_env: None, tmp_path: Path
) -> None:
    handle = enqueue_batch("openai/gpt-4.1-mini", Person, conversations(4), app=service)
    assert handle.wait(timeout=30, callbacks=True) is JobState.CALLBACKS_DONE

    listed = runner.invoke(cli, ["jobs", "list"])
    assert listed.exit_code == 0, listed.output
    assert handle.id in listed.output and "callbacks_done" in listed.output

    shown = runner.invoke(cli, ["jobs", "show", handle.id])
    assert shown.exit_code == 0, shown.output
    assert handle.summary().shards[0]["batch_id"] in shown.output
    assert "succeeded" in shown.output

    output = tmp_path / "results.jsonl"
    results = runner.invoke(cli, ["jobs", "results", handle.id, "--output-file", str(output)])
    assert results.exit_code == 0, results.output
    assert f"{handle.id}-0-3" in results.output
    lines = [orjson.loads(line) for line in output.read_bytes().splitlines()]
    assert [line["custom_id"] for line in lines] == [f"{handle.id}-0-{i}" for i in range(4)]
    assert all(line["success"] for line in lines)


def test_retry_queues_the_failed_requests_and_shows_the_link(
    service: BatchlineCelery, cli_env: None, sandbox: Sandbox
) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, seed=3, error_rate=0.4)
    handle = enqueue_batch("openai/gpt-4.1-mini", Person, conversations(30), app=service)
    assert handle.wait(timeout=30) in (JobState.RESULTS_STORED, JobState.CALLBACKS_DONE)
    failed = sum(1 for r in handle.results() if not r.success)
    assert failed

    retried = runner.invoke(cli, ["jobs", "retry", handle.id], env={"COLUMNS": "200"})

    assert retried.exit_code == 0, retried.output
    retry_id = retried.output.split("retried as job")[1].split()[0]
    assert f"{failed} failed request(s)" in retried.output
    shown = runner.invoke(cli, ["jobs", "show", retry_id], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert handle.id in shown.output  # retry_of
    nothing = runner.invoke(cli, ["jobs", "retry", handle.id, "--error-type", "refusal"])
    assert nothing.exit_code == 0  # already retried: the same retry job, whatever the types
    assert retry_id in nothing.output


def test_cancel_stops_a_queued_job_and_unknown_ids_fail_cleanly(
    app: BatchlineCelery, cli_env: None
) -> None:
    handle = enqueue_batch("openai/gpt-4.1-mini", Person, conversations(2), app=app)

    cancelled = runner.invoke(cli, ["jobs", "cancel", handle.id])
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancel requested" in cancelled.output
    assert handle.job().cancel_requested

    missing = runner.invoke(cli, ["jobs", "show", "0000000000000000"])
    assert missing.exit_code == 1
    assert "no job '0000000000000000'" in missing.output


def test_batchline_beat_ticks_once_per_provider_into_the_poll_queue(
    app: BatchlineCelery, sandbox: Sandbox, redis_client: redis.Redis, tmp_path: Path
) -> None:
    settings = app.runtime.settings
    queue_key = f"{settings.broker_key_prefix}{queue_of(POLL_PROVIDER, settings.queue)}"
    env = {**os.environ, **sandbox.env, **settings_env(settings)}
    command = [str(BATCHLINE), "beat", f"--schedule={tmp_path / 'schedule'}"]
    polled: set[str] = set()
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    ) as beat:
        try:
            deadline = time.monotonic() + 60
            while polled != {"openai", "anthropic", "google", "gemini"}:
                assert time.monotonic() < deadline, f"beat sent polls for {polled} only"
                for raw in redis_client.lrange(queue_key, 0, -1):
                    message = orjson.loads(raw)
                    assert message["headers"]["task"] == POLL_PROVIDER
                    polled.add(orjson.loads(base64.b64decode(message["body"]))[0][0])
                time.sleep(0.1)
        finally:
            beat.terminate()
