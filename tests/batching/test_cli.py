"""``batchline batch ...``: the guide's CLI commands against the sandbox, with `batchline` in
place of the guide's program name."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from batchline.batching import BatchProcessor
from batchline.cli import app as cli
from batchline.sandbox import Faults, Sandbox
from tests.conftest import TEST_COMPLETION_DELAY
from tests.providers.models import User

runner = CliRunner()
MODEL = "openai/gpt-4.1-mini"


def request_file(tmp_path: Path, count: int = 3, model: str = MODEL) -> Path:
    path = tmp_path / "batch.jsonl"
    messages = [
        [{"role": "user", "content": f"I'm user {i}, {20 + i} years old."}] for i in range(count)
    ]
    BatchProcessor(model, User).create_batch_from_messages(messages, str(path))
    return path


def submitted_id(output: str) -> str:
    return output.split("Batch submitted:")[1].split()[0]


def wait_done(batch_id: str, model: str = MODEL) -> None:
    processor = BatchProcessor(model, User)
    deadline = time.monotonic() + 20
    while processor.get_batch_status(batch_id)["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)


@pytest.mark.usefixtures("sandbox")
def test_create_from_file_then_list_status_and_results(tmp_path: Path) -> None:
    created = runner.invoke(
        cli,
        ["batch", "create-from-file", "--file-path", str(request_file(tmp_path)), "--model", MODEL],
    )
    assert created.exit_code == 0, created.output
    batch_id = submitted_id(created.output)
    wait_done(batch_id)

    listed = runner.invoke(cli, ["batch", "list", "--model", MODEL], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert batch_id in listed.output and "completed" in listed.output

    status = runner.invoke(cli, ["batch", "status", "--batch-id", batch_id])
    assert status.exit_code == 0, status.output
    assert "completed" in status.output and "requests total" in status.output

    # As the guide writes it: no --model, the provider is told by the batch id.
    output = tmp_path / "results.jsonl"
    results = runner.invoke(
        cli,
        [
            "batch",
            "results",
            "--batch-id",
            batch_id,
            "--output-file",
            str(output),
            "--response-model",
            "tests.providers.models:User",
        ],
    )
    assert results.exit_code == 0, results.output
    assert "success" in results.output and "3" in results.output
    lines = [orjson.loads(line) for line in output.read_bytes().splitlines()]
    assert sorted(line["custom_id"] for line in lines) == ["request-0", "request-1", "request-2"]
    assert all(line["success"] and "age" in line["result"] for line in lines)


@pytest.mark.usefixtures("sandbox")
def test_results_can_be_saved_raw(tmp_path: Path) -> None:
    created = runner.invoke(
        cli,
        [
            "batch",
            "create-from-file",
            "--file-path",
            str(request_file(tmp_path, 2)),
            "--model",
            MODEL,
        ],
    )
    batch_id = submitted_id(created.output)
    wait_done(batch_id)
    output = tmp_path / "raw.jsonl"
    results = runner.invoke(
        cli, ["batch", "results", "--batch-id", batch_id, "--output-file", str(output), "--raw"]
    )
    assert results.exit_code == 0, results.output
    raw = [orjson.loads(line) for line in output.read_bytes().splitlines()]
    assert {line["response"]["status_code"] for line in raw} == {200}


def test_cancel_reports_the_new_status(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.faults = Faults(completion_delay=5.0)
    created = runner.invoke(
        cli,
        ["batch", "create-from-file", "--file-path", str(request_file(tmp_path)), "--model", MODEL],
    )
    batch_id = submitted_id(created.output)
    cancelled = runner.invoke(cli, ["batch", "cancel", "--batch-id", batch_id])
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelling" in cancelled.output or "cancelled" in cancelled.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["batch", "list", "--model", "gpt-4"], "provider/model-name"),
        (["batch", "list", "--model", "mistral/large"], "unknown provider"),
        (["batch", "results", "--batch-id", "weird-id"], "cannot tell the provider"),
        (
            ["batch", "create-from-file", "--file-path", "/nope.jsonl", "--model", MODEL],
            "not found",
        ),
        (
            ["batch", "results", "--batch-id", "batch_x", "--response-model", "nowhere:Model"],
            "cannot import",
        ),
    ],
)
def test_user_errors_are_one_line_with_exit_code_1(
    args: list[str], message: str, sandbox: Sandbox
) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2


def test_missing_credential_is_named(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchline.config import get_settings

    path = request_file(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY")
    get_settings.cache_clear()
    result = runner.invoke(
        cli, ["batch", "create-from-file", "--file-path", str(path), "--model", MODEL]
    )
    assert result.exit_code == 1
    assert "OPENAI_API_KEY" in result.output


def test_results_of_an_unfinished_batch_say_so(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.faults = Faults(completion_delay=30 * TEST_COMPLETION_DELAY)
    created = runner.invoke(
        cli,
        ["batch", "create-from-file", "--file-path", str(request_file(tmp_path)), "--model", MODEL],
    )
    result = runner.invoke(cli, ["batch", "results", "--batch-id", submitted_id(created.output)])
    assert result.exit_code == 1
    assert "results exist once it is completed" in result.output


def test_retry_file_holds_the_failed_requests_and_submits_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, error_rate=0.5)
    requests = request_file(tmp_path, count=8)
    created = runner.invoke(
        cli, ["batch", "create-from-file", "--file-path", str(requests), "--model", MODEL]
    )
    batch_id = submitted_id(created.output)
    wait_done(batch_id)
    results = tmp_path / "results.jsonl"
    runner.invoke(cli, ["batch", "results", "--batch-id", batch_id, "--output-file", str(results)])
    failed = {
        row["custom_id"]
        for row in map(orjson.loads, results.read_bytes().splitlines())
        if not row["success"]
    }
    assert failed

    retry = tmp_path / "retry.jsonl"
    made = runner.invoke(
        cli,
        ["batch", "retry-file", "--file-path", str(requests), "--results-file", str(results),
         "--output-file", str(retry), "--model", MODEL],
        env={"COLUMNS": "200"},
    )  # fmt: skip

    assert made.exit_code == 0, made.output
    assert "provider_error" in made.output
    assert {orjson.loads(line)["custom_id"] for line in retry.read_bytes().splitlines()} == failed
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY)
    again = runner.invoke(
        cli, ["batch", "create-from-file", "--file-path", str(retry), "--model", MODEL]
    )
    retry_id = submitted_id(again.output)
    wait_done(retry_id)
    retried = BatchProcessor(MODEL, User).retrieve_results(retry_id)
    assert {r.custom_id for r in retried if r.success} == failed


def test_retry_file_refuses_raw_results(sandbox: Sandbox, tmp_path: Path) -> None:
    raw = tmp_path / "raw.jsonl"
    raw.write_bytes(b'{"id": "batch_req_1", "custom_id": "request-0", "response": {}}\n')

    made = runner.invoke(
        cli,
        ["batch", "retry-file", "--file-path", str(request_file(tmp_path)), "--results-file",
         str(raw), "--output-file", str(tmp_path / "retry.jsonl"), "--model", MODEL],
    )  # fmt: skip

    assert made.exit_code == 1
    assert "not a parsed result" in made.output
