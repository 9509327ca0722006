"""Small things a new user trips on: finished things cannot be cancelled, nothing to retry is
not an error, the help lists every command, and piped output is not cut at 80 columns."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from batchline.cli import app as cli
from batchline.cli import common
from batchline.sandbox import Sandbox
from tests.batching.test_cli import MODEL, request_file, submitted_id, wait_done

runner = CliRunner()


def test_cancelling_a_finished_batch_says_it_has_ended(sandbox: Sandbox, tmp_path: Path) -> None:
    made = runner.invoke(
        cli,
        ["batch", "create-from-file", "--file-path", str(request_file(tmp_path)), "-m", MODEL],
    )
    assert made.exit_code == 0, made.output
    batch_id = submitted_id(made.output)
    wait_done(batch_id)

    cancelled = runner.invoke(cli, ["batch", "cancel", "--batch-id", batch_id])
    assert cancelled.exit_code == 0, cancelled.output
    assert "has already ended (completed" in cancelled.output
    assert "cancel requested" not in cancelled.output


def test_retry_file_with_nothing_to_retry_is_one_line_and_exit_0(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    results.write_bytes(
        orjson.dumps({"custom_id": "request-0", "success": True, "result": {}}) + b"\n"
    )
    output_file = tmp_path / "retry.jsonl"
    made = runner.invoke(
        cli,
        ["batch", "retry-file", "--file-path", str(request_file(tmp_path)), "--results-file",
         str(results), "--output-file", str(output_file), "--model", MODEL],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert made.output.strip().splitlines() == [
        "nothing to retry: no request failed with cancelled, expired, missing, provider_error"
    ]
    assert not output_file.exists()


def test_the_help_lists_every_batch_command_and_shows_no_rst() -> None:
    top = runner.invoke(cli, ["--help"], env={"COLUMNS": "200"})
    assert "cancel" in top.output and "retry-file" in top.output
    worker = runner.invoke(cli, ["worker", "--help"], env={"COLUMNS": "200"})
    assert worker.exit_code == 0
    assert "``" not in worker.output
    assert "--include" in worker.output


def test_piped_output_is_not_cut_at_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(common.console, "width", 80)
    common.honour_columns()  # what every command does first; the console here is not a tty
    assert common.console.width == common.PIPED_WIDTH
