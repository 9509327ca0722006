"""The guide's three CLI commands (``batch list``, ``batch create-from-file``, ``batch results``)
run as a user runs them: the installed ``batchline`` program in a child process, against the
sandbox, for every provider. Only the program's name differs from the guide's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from batchline.batching import BatchProcessor
from batchline.sandbox import Sandbox
from tests.providers.models import User

#: The console script pip installed beside this interpreter.
BATCHLINE = str(Path(sys.executable).with_name("batchline"))

MODELS = {
    "openai": "openai/gpt-4.1-mini",
    "anthropic": "anthropic/claude-3-5-sonnet-20241022",
    "google": "google/gemini-2.5-flash",
}


def batchline(*args: str, cwd: Path) -> str:
    """Run ``batchline batch ...`` with the sandbox's environment; fail on a non-zero exit."""
    env = {**os.environ, "COLUMNS": "200"}  # rich would cut the table's ids at 80 columns
    done = subprocess.run(
        [BATCHLINE, "batch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("provider", sorted(MODELS))
def test_create_from_file_list_and_results_as_the_guide_runs_them(
    provider: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    model = MODELS[provider]
    processor = BatchProcessor(model, User)
    people = [[{"role": "user", "content": f"Extract: Ana {i} is {40 + i}"}] for i in range(3)]
    processor.create_batch_from_messages(people, file_path=str(tmp_path / "batch.jsonl"))

    created = batchline(
        "create-from-file", "--file-path", "batch.jsonl", "--model", model, cwd=tmp_path
    )
    batch_id = created.split("Batch submitted:")[1].split()[0]
    deadline = time.monotonic() + 30
    while processor.get_batch_status(batch_id)["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    listed = batchline("list", "--model", model, cwd=tmp_path)
    fetched = batchline(
        "results", "--batch-id", batch_id, "--output-file", "results.jsonl", cwd=tmp_path
    )

    assert batch_id in listed
    assert "completed" in listed
    assert "success" in fetched
    rows = [orjson.loads(line) for line in (tmp_path / "results.jsonl").read_bytes().splitlines()]
    assert sorted(row["custom_id"] for row in rows) == ["request-0", "request-1", "request-2"]
    assert all(row["success"] and set(row["result"]) == {"name", "age"} for row in rows)
