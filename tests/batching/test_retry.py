"""Retrying only what failed: the retry request file, and merging its results back."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from batchline.batching import (
    RETRYABLE_ERRORS,
    BatchError,
    BatchProcessor,
    BatchSuccess,
    ErrorType,
    merge_results,
)
from batchline.errors import InvalidRequestError
from tests.providers.models import User

MODELS = ["openai/gpt-4.1-mini", "anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"]


def conversations(count: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"I'm person {i}."}] for i in range(count)]


def ok(custom_id: str, age: int = 1) -> BatchSuccess[User]:
    return BatchSuccess(custom_id, User(name="n", age=age))


def failed(custom_id: str, kind: ErrorType) -> BatchError:
    return BatchError(custom_id, kind, f"{kind} happened")


@pytest.mark.parametrize("model", MODELS)
def test_the_retry_file_holds_the_failed_requests_byte_for_byte(model: str, tmp_path: Path) -> None:
    processor = BatchProcessor(model, User)
    path = tmp_path / "requests.jsonl"
    processor.create_batch_from_messages(conversations(6), file_path=str(path))
    lines = path.read_bytes().splitlines(keepends=True)
    results = [
        ok("request-0"),
        failed("request-1", ErrorType.PROVIDER_ERROR),
        ok("request-2"),
        failed("request-3", ErrorType.EXPIRED),
        failed("request-4", ErrorType.VALIDATION_ERROR),
        failed("request-5", ErrorType.MISSING),
    ]

    retry_path = tmp_path / "retry.jsonl"
    assert processor.create_retry_batch(str(path), results, retry_path) == str(retry_path)

    assert retry_path.read_bytes().splitlines(keepends=True) == [lines[1], lines[3], lines[5]]
    assert not list(tmp_path.glob("*.partial"))


def test_error_types_choose_what_is_retried() -> None:
    processor = BatchProcessor("openai/gpt-4.1-mini", User)
    buffer = processor.create_batch_from_messages(conversations(3))
    results = [
        failed("request-0", ErrorType.VALIDATION_ERROR),
        failed("request-1", ErrorType.TRUNCATED),
        failed("request-2", ErrorType.PROVIDER_ERROR),
    ]

    retry = processor.create_retry_batch(
        buffer, results, error_types=[ErrorType.VALIDATION_ERROR, "truncated"]
    )

    assert isinstance(retry, io.BytesIO) and isinstance(buffer, io.BytesIO)
    assert b'"request-0"' in retry.getvalue()
    assert b'"request-1"' in retry.getvalue()
    assert b'"request-2"' not in retry.getvalue()
    assert buffer.tell() == 0  # the caller's buffer is rewound


def test_a_run_without_retryable_errors_says_there_is_nothing_to_retry() -> None:
    processor = BatchProcessor("anthropic/claude-haiku-4-5", User)
    buffer = processor.create_batch_from_messages(conversations(2))
    results = [ok("request-0"), failed("request-1", ErrorType.REFUSAL)]

    with pytest.raises(InvalidRequestError, match="nothing to retry"):
        processor.create_retry_batch(buffer, results)


def test_results_from_another_file_are_refused_and_leave_the_target_as_it_was(
    tmp_path: Path,
) -> None:
    processor = BatchProcessor("google/gemini-2.5-flash", User)
    buffer = processor.create_batch_from_messages(conversations(2))
    results = [failed("request-0", ErrorType.EXPIRED), failed("other-7", ErrorType.EXPIRED)]
    target = tmp_path / "retry.jsonl"
    target.write_bytes(b"an earlier retry file\n")

    with pytest.raises(InvalidRequestError, match="other-7"):
        processor.create_retry_batch(buffer, results, target)

    assert target.read_bytes() == b"an earlier retry file\n"
    assert [p.name for p in tmp_path.iterdir()] == ["retry.jsonl"]


def test_the_retry_file_cannot_overwrite_the_request_file(tmp_path: Path) -> None:
    processor = BatchProcessor("openai/gpt-4.1-mini", User)
    path = tmp_path / "requests.jsonl"
    processor.create_batch_from_messages(conversations(2), file_path=str(path))
    before = path.read_bytes()

    with pytest.raises(InvalidRequestError, match="not over it"):
        processor.create_retry_batch(path, [failed("request-0", ErrorType.EXPIRED)], str(path))

    assert path.read_bytes() == before


def test_a_file_that_is_not_requests_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(b'{"custom_id": "request-0"}\nnot json\n')
    processor = BatchProcessor("openai/gpt-4.1-mini", User)

    with pytest.raises(InvalidRequestError, match="not a request"):
        processor.create_retry_batch(path, [failed("request-9", ErrorType.MISSING)])


def test_merge_keeps_the_first_order_and_takes_the_retry_where_it_has_one() -> None:
    first = [ok("a"), failed("b", ErrorType.EXPIRED), failed("c", ErrorType.PROVIDER_ERROR)]
    retried = [failed("c", ErrorType.PROVIDER_ERROR), ok("b", age=2)]

    merged = merge_results(first, retried)

    assert [r.custom_id for r in merged] == ["a", "b", "c"]
    assert merged[0] is first[0]
    assert merged[1] is retried[1]
    assert merged[2] is retried[0]


def test_merge_never_replaces_a_success_with_an_error() -> None:
    first = [ok("a")]
    merged = merge_results(first, [failed("a", ErrorType.PROVIDER_ERROR), ok("z")])

    assert merged[0] is first[0]
    assert [r.custom_id for r in merged] == ["a", "z"]


def test_by_default_only_errors_a_retry_can_fix_are_retryable() -> None:
    assert {
        ErrorType.PROVIDER_ERROR,
        ErrorType.EXPIRED,
        ErrorType.CANCELLED,
        ErrorType.MISSING,
    } == RETRYABLE_ERRORS
