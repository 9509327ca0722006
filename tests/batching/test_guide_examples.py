"""The guide's code examples, run as written (only the import line changed) for every provider
and both modes, against the sandbox."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from batchline.sandbox import Faults, Sandbox

GUIDE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "batch-processing-guide.md"

MODELS = {
    "openai": "openai/gpt-4.1-mini",
    "anthropic": "anthropic/claude-3-5-sonnet-20241022",
    "google": "google/gemini-2.5-flash",
}


def guide_examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    return [block for block in blocks if "create_batch_from_messages" in block]


def adapt(code: str, model: str) -> str:
    """Only the import line changes; the model string picks the provider, and the in-memory
    example's ten-second poll sleep is shortened so the test stays quick."""
    code = code.replace("instructor.batch", "batchline.batching")
    code = code.replace('"openai/gpt-4.1-mini"', f'"{model}"')
    return code.replace("time.sleep(10)", "time.sleep(0.05)")


def run(code: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(cwd)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<guide>", "exec"), {"__name__": "guide_example"})
    return out.getvalue()


def test_the_guide_has_both_examples() -> None:
    file_example, memory_example = guide_examples()
    assert 'file_path="batch_requests.jsonl"' in file_example
    assert "file_path=None" in memory_example


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_file_example_runs_as_written(
    provider: str, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file example checks the status once, right after submitting: a sandbox that
    # finishes at once lets its result branch run too.
    sandbox.faults = Faults(completion_delay=0.0)
    output = run(adapt(guide_examples()[0], MODELS[provider]), tmp_path, monkeypatch)
    assert "Batch job submitted:" in output
    assert (tmp_path / "batch_requests.jsonl").is_file()
    assert output.count("Name: ") == 2, output


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_in_memory_example_runs_as_written(
    provider: str, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = run(adapt(guide_examples()[1], MODELS[provider]), tmp_path, monkeypatch)
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 2, output
    assert all(re.fullmatch(r"\S+, \d+", line) for line in lines), output
