"""The estimate against the sandbox's own counts, on the request kinds ``docs/cost.md`` reports."""

from __future__ import annotations

import pytest

from batchline.batching.estimate import INPUT_ERROR
from batchline.sandbox import Sandbox
from benchmarks.estimate_accuracy import measure


@pytest.mark.parametrize("model", ["openai/gpt-4.1-mini", "anthropic/claude-haiku-4-5"])
def test_the_sandbox_count_lies_within_the_estimate_bounds_for_every_kind(
    model: str, sandbox: Sandbox
) -> None:
    rows = measure(model, sandbox, per_kind=1)
    assert len(rows) == 8
    for row in rows:
        low, high = row.estimated * (1 - INPUT_ERROR), row.estimated * (1 + INPUT_ERROR)
        assert low <= row.reported <= high, row


def test_the_estimate_is_never_below_the_sandbox_gemini_count(sandbox: Sandbox) -> None:
    # The sandbox's Gemini count leaves out the schema and the message framing.
    for row in measure("google/gemini-2.5-flash", sandbox, per_kind=1):
        assert row.estimated >= row.reported, row
