"""The demo's log directory: gone after a demo that worked, kept after one that failed (the
logs are what the user reads next, and the demo printed their path)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from batchline.demo.run import _workdir


def test_the_temporary_log_directory_is_removed_after_a_demo_that_worked() -> None:
    with ExitStack() as stack:
        workdir = _workdir(stack, None)
        (workdir / "worker.log").write_text("all fine\n")
    assert not workdir.exists()


def test_the_temporary_log_directory_is_kept_after_a_demo_that_failed() -> None:
    with pytest.raises(TimeoutError), ExitStack() as stack:
        workdir = _workdir(stack, None)
        (workdir / "worker.log").write_text("Traceback ...\n")
        raise TimeoutError("a job did not finish")
    assert (workdir / "worker.log").read_text() == "Traceback ...\n"
    for item in workdir.iterdir():
        item.unlink()
    workdir.rmdir()


def test_a_log_directory_the_user_named_is_always_kept(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    with ExitStack() as stack:
        assert _workdir(stack, logs) == logs.resolve()
    assert logs.is_dir()
