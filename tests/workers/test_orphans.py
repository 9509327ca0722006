"""Orphans: batches batchline submitted whose job records are gone are listed, with status and
age, and cancelled; batches of live jobs never are."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from batchline.batching.status import BatchStatus
from batchline.cli import app as cli
from batchline.sandbox import Faults, Sandbox
from batchline.workers import JobState, cancel_orphans, enqueue_batch, list_orphans
from batchline.workers.app import BatchlineCelery
from batchline.workers.submission import submit_job
from tests.workers.conftest import settings_env
from tests.workers.helpers import conversations
from tests.workers.models import Person

runner = CliRunner()
OPENAI = "openai/gpt-4.1-mini"
ANTHROPIC = "anthropic/claude-3-5-haiku-latest"


def submitted(app: BatchlineCelery, model: str) -> tuple[str, str]:
    """A job submitted to the sandbox by hand: its id and its provider batch id."""
    handle = enqueue_batch(model, Person, conversations(3), app=app)
    assert submit_job(app.runtime, handle.id) is JobState.SUBMITTED
    [shard] = app.runtime.store.load_shards(handle.job())
    return handle.id, shard.batch_id


def test_a_running_batch_whose_job_is_gone_is_listed_and_cancelled(
    app: BatchlineCelery, sandbox: Sandbox
) -> None:
    sandbox.faults = Faults(completion_delay=60.0)
    lost_job, lost_batch = submitted(app, OPENAI)
    _, live_batch = submitted(app, OPENAI)
    app.runtime.store.delete(lost_job)  # as a Redis that lost its data would

    report = list_orphans(["openai"], app=app)
    by_batch = {orphan.batch_id: orphan for orphan in report.orphans}
    assert live_batch not in by_batch
    orphan = by_batch[lost_batch]
    assert (orphan.job_id, orphan.shard) == (lost_job, 0)
    assert not orphan.status.is_terminal
    assert orphan.age is not None and 0 <= orphan.age < 60

    [result] = cancel_orphans([orphan], app=app)
    assert result.cancel_result == "cancelled"
    status = app.runtime.provider("openai").get(lost_batch).status
    assert status in (BatchStatus.CANCELLING, BatchStatus.CANCELLED)
    assert app.runtime.provider("openai").get(live_batch).status is not BatchStatus.CANCELLED


def test_anthropic_orphans_are_found_by_their_custom_ids_once_ended(
    app: BatchlineCelery, sandbox: Sandbox
) -> None:
    sandbox.faults = Faults(completion_delay=1.0)
    lost_job, lost_batch = submitted(app, ANTHROPIC)
    app.runtime.store.delete(lost_job)

    # Still processing: its custom ids cannot be read yet, so it is only counted.
    early = list_orphans(["anthropic"], app=app)
    assert lost_batch not in {orphan.batch_id for orphan in early.orphans}
    assert early.unverified.get("anthropic", 0) >= 1

    time.sleep(1.5)
    ended = list_orphans(["anthropic"], app=app)
    [orphan] = [o for o in ended.orphans if o.batch_id == lost_batch]
    assert (orphan.job_id, orphan.shard) == (lost_job, 0)
    assert orphan.status.is_terminal
    assert cancel_orphans([orphan], app=app)[0].cancel_result == "ended"


def test_a_shard_still_submitting_is_not_an_orphan(app: BatchlineCelery, sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=60.0)
    job_id, batch_id = submitted(app, OPENAI)
    rt = app.runtime
    # The batch exists but the shard has not recorded it yet (its submit is in flight).
    rt.redis.delete(rt.keys.batch_owners("openai"))
    rt.redis.hset(rt.keys.shard(job_id, 0), mapping={"state": "pending", "batch_id": ""})
    assert batch_id not in {o.batch_id for o in list_orphans(["openai"], app=app).orphans}


def test_jobs_orphans_command_lists_and_cancels(
    app: BatchlineCelery, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in settings_env(app.runtime.settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "250")
    sandbox.faults = Faults(completion_delay=60.0)
    lost_job, lost_batch = submitted(app, OPENAI)
    app.runtime.store.delete(lost_job)

    listed = runner.invoke(cli, ["jobs", "orphans", "--provider", "openai"])
    assert listed.exit_code == 0, listed.output
    assert lost_batch in listed.output and lost_job in listed.output
    assert "in_progress" in listed.output or "validating" in listed.output

    cancelled = runner.invoke(cli, ["jobs", "orphans", "--provider", "openai", "--cancel"])
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelled" in cancelled.output
    status = app.runtime.provider("openai").get(lost_batch).status
    assert status in (BatchStatus.CANCELLING, BatchStatus.CANCELLED)

    bad = runner.invoke(cli, ["jobs", "orphans", "--scan", "0"])
    assert bad.exit_code == 1
    assert "--scan must be at least 1" in bad.output
