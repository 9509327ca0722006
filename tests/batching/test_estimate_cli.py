"""``batchline batch estimate``: a request file's cost range, offline, as a table."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchline.batching import BatchProcessor
from batchline.cli import app as cli
from batchline.cli.costs import dollars
from tests.providers.contract import conversations
from tests.providers.models import User

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_estimate_prints_tokens_and_the_cost_range_of_a_request_file(tmp_path: Path) -> None:
    processor = BatchProcessor("anthropic/claude-haiku-4-5", User)
    path = tmp_path / "requests.jsonl"
    processor.create_batch_from_messages(conversations(3), file_path=path, max_tokens=250)
    estimate = processor.estimate_cost(path)

    done = runner.invoke(
        cli, ["batch", "estimate", "--file-path", str(path), "--model", processor.model]
    )

    assert done.exit_code == 0, done.output
    assert f"{estimate.input_tokens_high:,}" in done.output
    assert "750" in done.output
    assert dollars(estimate.batch_high) in done.output
    assert dollars(estimate.live_high) in done.output


def test_estimate_for_a_model_without_a_price_fails_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    BatchProcessor("openai/gpt-4.1-mini", User).create_batch_from_messages(
        conversations(1), file_path=path
    )
    done = runner.invoke(
        cli, ["batch", "estimate", "--file-path", str(path), "--model", "openai/o9-preview"]
    )
    assert done.exit_code == 1
    assert "no price for openai/o9-preview" in done.output
    assert "Traceback" not in done.output


def test_estimate_of_a_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    done = runner.invoke(
        cli, ["batch", "estimate", "--file-path", str(missing), "--model", "openai/gpt-4.1-mini"]
    )
    assert done.exit_code == 1
    assert f"request file not found: {missing}" in done.output.replace("\n", "")
