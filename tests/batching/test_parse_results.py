"""``parse_results`` reads every real provider line, from any kind of source, and never aborts."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from batchline.batching import BatchError, BatchProcessor, ErrorType
from tests.conftest import REAL_OUTPUTS
from tests.providers.models import User

PROVIDER_FILES = {
    "openai/gpt-4o": sorted(REAL_OUTPUTS.glob("openai_*.jsonl")),
    "anthropic/claude-haiku-4-5": sorted(REAL_OUTPUTS.glob("anthropic_*.jsonl")),
    "google/gemini-2.5-flash": sorted(REAL_OUTPUTS.glob("vertex_*.jsonl")),
}
ALL_FILES = [(model, path) for model, paths in PROVIDER_FILES.items() for path in paths]


def nonblank_lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.strip())


@pytest.mark.parametrize(("model", "path"), ALL_FILES, ids=[p.name for _, p in ALL_FILES])
def test_every_real_line_gives_one_result(model: str, path: Path) -> None:
    results = BatchProcessor(model, User).parse_results(path.read_text())
    assert len(results) == nonblank_lines(path)
    assert not [r for r in results if r.error_type == ErrorType.MALFORMED_LINE]  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["str", "bytes", "path", "pathlike", "binary file", "text file"])
def test_content_can_be_given_in_any_form(kind: str) -> None:
    path = REAL_OUTPUTS / "anthropic_results_1.jsonl"
    sources = {
        "str": lambda: path.read_text(),
        "bytes": lambda: path.read_bytes(),
        "path": lambda: str(path),
        "pathlike": lambda: path,
        "binary file": lambda: io.BytesIO(path.read_bytes()),
        "text file": lambda: io.StringIO(path.read_text()),
    }
    results = BatchProcessor("anthropic/claude-haiku-4-5", User).parse_results(sources[kind]())
    assert sorted(r.custom_id for r in results) == ["probe-alpha", "probe-bad", "probe-beta"]


def test_a_malformed_line_becomes_an_error_and_parsing_goes_on() -> None:
    good = (REAL_OUTPUTS / "openai_output_3.jsonl").read_text().splitlines()
    content = "\n".join([good[0], '{"custom_id": "broken", "response": ', "not json", good[1]])
    results = BatchProcessor("openai/gpt-3.5-turbo", User).parse_results(content)
    assert len(results) == 4
    malformed = [r for r in results if isinstance(r, BatchError)]
    assert {r.error_type for r in malformed} >= {ErrorType.MALFORMED_LINE}
    assert "request-1" in {r.custom_id for r in results}


def test_anthropic_errored_line_keeps_the_providers_message() -> None:
    results = BatchProcessor("anthropic/claude-haiku-4-5", User).parse_results(
        REAL_OUTPUTS / "anthropic_results_1.jsonl"
    )
    bad = next(r for r in results if r.custom_id == "probe-bad")
    assert isinstance(bad, BatchError)
    assert bad.error_type == ErrorType.PROVIDER_ERROR
    assert "at least one message is required" in bad.error_message
    assert bad.provider_code == "invalid_request_error"


def test_openai_error_file_line_keeps_code_and_message() -> None:
    results = BatchProcessor("openai/gpt-4o", User).parse_results(
        REAL_OUTPUTS / "openai_errors_1.jsonl"
    )
    assert all(isinstance(r, BatchError) for r in results)
    assert {r.provider_code for r in results} == {"unsupported_parameter"}  # type: ignore[union-attr]
    assert all("Unsupported parameter" in r.error_message for r in results)  # type: ignore[union-attr]


def test_vertex_truncated_line_is_typed_truncated() -> None:
    results = BatchProcessor("google/gemini-2.5-flash", User).parse_results(
        REAL_OUTPUTS / "vertex_predictions_2.jsonl"
    )
    assert ErrorType.TRUNCATED in {getattr(r, "error_type", None) for r in results}
