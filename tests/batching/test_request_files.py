"""Request files stream: memory stays flat however many requests a job has."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from batchline.batching import BatchProcessor
from tests.providers.models import User

MODELS = ["openai/gpt-4.1-mini", "anthropic/claude-3-5-sonnet-20241022", "google/gemini-2.5-flash"]


def conversation_stream(count: int) -> Iterator[list[dict[str, str]]]:
    for i in range(count):
        yield [
            {"role": "system", "content": "Extract user information from text."},
            {"role": "user", "content": f"Hi, I'm user {i} and I'm {i % 90} years old."},
        ]


@pytest.mark.parametrize("model", MODELS)
def test_a_100000_request_file_is_built_with_flat_memory(model: str, tmp_path: Path) -> None:
    processor = BatchProcessor(model, User)
    path = tmp_path / "requests.jsonl"
    tracemalloc.start()
    try:
        processor.create_batch_from_messages(conversation_stream(100_000), str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = path.stat().st_size
    assert size > 20_000_000  # the file itself is tens of MB...
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB"  # ...but memory is a small block
    with path.open("rb") as handle:
        lines = sum(1 for _ in handle)
    assert lines == 100_000


@pytest.mark.parametrize("model", MODELS)
def test_file_and_buffer_modes_write_the_same_lines(model: str, tmp_path: Path) -> None:
    processor = BatchProcessor(model, User)
    path = tmp_path / "requests.jsonl"
    processor.create_batch_from_messages(conversation_stream(5), str(path), max_tokens=99)
    buffer = processor.create_batch_from_messages(conversation_stream(5), None, max_tokens=99)
    assert path.read_bytes() == buffer.getvalue()  # type: ignore[union-attr]
    for line in buffer.getvalue().splitlines():  # type: ignore[union-attr]
        assert isinstance(orjson.loads(line), dict)


def test_custom_ids_can_be_chosen(tmp_path: Path) -> None:
    processor = BatchProcessor("openai/gpt-4.1-mini", User)
    buffer = processor.create_batch_from_messages(
        conversation_stream(3), custom_ids=["a", "b", "c"]
    )
    ids = [orjson.loads(line)["custom_id"] for line in buffer.getvalue().splitlines()]  # type: ignore[union-attr]
    assert ids == ["a", "b", "c"]


def test_an_existing_file_is_replaced_not_appended(tmp_path: Path) -> None:
    processor = BatchProcessor("openai/gpt-4.1-mini", User)
    path = tmp_path / "requests.jsonl"
    processor.create_batch_from_messages(conversation_stream(4), str(path))
    processor.create_batch_from_messages(conversation_stream(2), str(path))
    assert len(path.read_bytes().splitlines()) == 2
