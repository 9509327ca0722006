"""Batch clients nobody here wrote complete a whole structured batch against the sandbox.

Each runs in its own venv, installed from PyPI (``conftest``); every answer it hands back
must parse into the same strict model, so a sandbox that answers in a shape a real client
cannot read, or ignores how that client asks for structure, fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from tests.fidelity.conftest import BATCHATA, PYDANTIC_AI, STEADYBATCH, run_driver

#: The first run installs each client into its venv, which can take minutes on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

#: Requests in each client's batch: enough that order and matching matter.
COUNT = 5


class Invoice(BaseModel):
    """The structure every driver asks for (``INVOICE`` in the steadybatch driver)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    vendor: str
    total_cents: int
    paid: bool
    lines: list[str]


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("mode", ["openai", "openai-native", "anthropic"])
def test_pydantic_ai_batches_parse_into_the_output_type(
    sandbox_env: dict[str, str], mode: str
) -> None:
    """``openai`` and ``openai-native`` go through ``/v1/responses`` (a forced function tool,
    then ``text.format``); ``anthropic`` through Message Batches with a forced tool."""
    lines = run_driver(PYDANTIC_AI, "pydantic_ai_batch.py", [mode, str(COUNT)], sandbox_env)

    outputs = [Invoice.model_validate(row) for row in parsed(lines)]
    assert len(outputs) == COUNT


@pytest.mark.parametrize("mode", ["openai", "anthropic", "anthropic-prompt"])
def test_steadybatch_checks_every_answer_against_its_schema(
    sandbox_env: dict[str, str], mode: str
) -> None:
    """``anthropic-prompt`` writes the schema into the system prompt instead of sending
    ``output_config``; the sandbox must still answer with JSON that follows it."""
    lines = run_driver(STEADYBATCH, "steadybatch_batch.py", [mode, str(COUNT)], sandbox_env)

    rows = parsed(lines)
    assert sorted(row["key"] for row in rows) == [f"invoice-{n}" for n in range(COUNT)]
    assert [(row["outcome"], row["error"]) for row in rows] == [("ok", None)] * COUNT
    for row in rows:
        Invoice.model_validate(row["data"])


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_batchata_parses_every_job_into_its_response_model(
    sandbox_env: dict[str, str], provider: str, tmp_path: Path
) -> None:
    """On Anthropic batchata asks for the structure in the system prompt only."""
    args = [provider, str(COUNT), str(tmp_path / "results")]

    rows = parsed(run_driver(BATCHATA, "batchata_batch.py", args, sandbox_env, timeout=240))

    assert [row["error"] for row in rows] == [None] * COUNT
    for row in rows:
        Invoice.model_validate(row["data"])
