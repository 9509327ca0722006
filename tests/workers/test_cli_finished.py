"""``batchline jobs cancel`` on a finished job says so instead of "cancel requested"."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from batchline.cli import app as cli
from batchline.workers import JobState, enqueue_batch
from batchline.workers.app import BatchlineCelery
from tests.workers.conftest import settings_env
from tests.workers.helpers import conversations
from tests.workers.models import Person

MODEL = "openai/gpt-4.1-mini"
runner = CliRunner()


def test_cancelling_a_finished_job_says_it_has_finished(
    service: BatchlineCelery, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in settings_env(service.runtime.settings).items():
        monkeypatch.setenv(name, value)
    handle = enqueue_batch(MODEL, Person, conversations(2), app=service)
    assert handle.wait(timeout=30, callbacks=True) is JobState.CALLBACKS_DONE

    cancelled = runner.invoke(cli, ["jobs", "cancel", handle.id])
    assert cancelled.exit_code == 0, cancelled.output
    assert f"job {handle.id} has already finished (completed): nothing to cancel" in (
        cancelled.output
    )
    assert not handle.job().cancel_requested
