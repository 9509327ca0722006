"""From result lines to typed results: validation against the response model and accounting.

Parsing never aborts on a bad line: an unreadable line becomes a ``malformed_line`` error, and
``account`` makes sure every submitted request comes back exactly once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, AnyStr, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from batchline.batching.providers.base import LineOutcome, PlainAnswer
from batchline.batching.results import BatchError, BatchSuccess, ErrorType

T = TypeVar("T", bound=BaseModel)

#: Anything ``parse_results`` accepts: the content itself, a path, or an open file.
ResultsSource = str | bytes | os.PathLike[str] | IO[bytes] | IO[str] | Iterable[bytes | str]

#: How many characters of a failing answer an error message quotes.
_EXCERPT = 200


def iter_source_lines(content: ResultsSource) -> Iterator[bytes | str]:
    """The non-blank lines of ``content``, streamed from files and paths.

    A ``str`` that contains a newline or starts with ``{`` is content; any other ``str`` is
    read as a path if such a file exists (so a one-line result string still parses).
    """
    if isinstance(content, os.PathLike) or (isinstance(content, str) and _is_path(content)):
        return _file_lines(os.fspath(content))
    if isinstance(content, bytes | bytearray | memoryview):
        return _split_text(bytes(content))
    if isinstance(content, str):
        return _split_text(content)
    return _non_blank(content)


def _split_text(content: AnyStr) -> Iterator[AnyStr]:
    """Lines of in-memory content, cut with ``find``: a ``StringIO`` would first copy the text
    at four bytes a character, and ``split`` would hold every line at once. Only ``\n`` ends a
    line (a JSON string may contain U+2028)."""
    newline = "\n" if isinstance(content, str) else b"\n"
    find = content.find
    start = 0
    while True:
        end = find(newline, start)
        line = content[start:] if end < 0 else content[start:end]
        if line.strip():
            yield line
        if end < 0:
            return
        start = end + 1


def _file_lines(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                yield line


def _is_path(text: str) -> bool:
    if "\n" in text or text.lstrip().startswith("{") or len(text) > 4096:
        return False
    return Path(text).is_file()


def _non_blank(lines: Iterable[bytes | str]) -> Iterator[bytes | str]:
    for line in lines:
        if line.strip():
            yield line


def resolve(outcome: LineOutcome, response_model: type[T]) -> BatchSuccess[T] | BatchError:
    """Validate one outcome against the response model."""
    if outcome.error_type is not None:
        return BatchError(
            custom_id=outcome.custom_id,
            error_type=outcome.error_type,
            error_message=outcome.error_message,
            raw_data=outcome.raw,
            provider_code=outcome.provider_code,
            usage=outcome.usage,
        )
    try:
        if outcome.text is not None:
            result = response_model.model_validate_json(outcome.text)
        else:
            result = response_model.model_validate(outcome.data)
    except ValidationError as exc:
        return _validation_error(outcome, exc)
    return BatchSuccess(custom_id=outcome.custom_id, result=result, usage=outcome.usage)


def _validation_error(outcome: LineOutcome, exc: ValidationError) -> BatchError:
    answer = outcome.text if outcome.text is not None else orjson.dumps(outcome.data).decode()
    excerpt = answer if len(answer) <= _EXCERPT else answer[:_EXCERPT] + "..."
    if outcome.text is not None and any(e["type"] == "json_invalid" for e in exc.errors()):
        return BatchError(
            custom_id=outcome.custom_id,
            error_type=ErrorType.INVALID_JSON,
            error_message=f"the model's answer is not valid JSON: {excerpt!r}",
            raw_data=outcome.raw,
            usage=outcome.usage,
        )
    return BatchError(
        custom_id=outcome.custom_id,
        error_type=ErrorType.VALIDATION_ERROR,
        error_message=str(exc),
        raw_data=outcome.raw,
        usage=outcome.usage,
    )


def iter_parse(
    lines: Iterable[bytes | str],
    parse_line: Callable[[bytes | str], LineOutcome],
    response_model: type[T],
    plain_answer: Callable[[Any], PlainAnswer | None] | None = None,
) -> Iterator[BatchSuccess[T] | BatchError]:
    """Parse provider result lines one at a time; a malformed line becomes an error result.

    With ``plain_answer`` (the provider's fast path) an ordinary success line goes straight
    from the decoded line to a ``BatchSuccess``; every other line (errors, refusals, answers
    that fail validation, unreadable lines) takes the general ``parse_line`` + ``resolve`` path,
    so both paths give the same result for a line. The fast path matters because this loop
    runs once per request: the general path's intermediate objects cost more than decoding.
    """
    validator = response_model.__pydantic_validator__
    validate_json, validate_python = validator.validate_json, validator.validate_python
    for number, line in enumerate(lines, start=1):
        if plain_answer is not None:
            try:
                plain = plain_answer(orjson.loads(line))
            except orjson.JSONDecodeError:
                plain = None
            if plain is not None:
                custom_id, answer, usage = plain
                try:
                    if type(answer) is str:
                        result = validate_json(answer)
                    else:
                        result = validate_python(answer)
                except ValidationError:
                    pass  # the general path below words the error
                else:
                    yield BatchSuccess(custom_id, result, usage)
                    continue
        try:
            outcome = parse_line(line)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            yield _malformed(line, number, exc)
            continue
        yield resolve(outcome, response_model)


def _malformed(line: bytes | str, number: int, exc: Exception) -> BatchError:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    custom_id = _guess_custom_id(text) or f"unknown-line-{number}"
    return BatchError(
        custom_id=custom_id,
        error_type=ErrorType.MALFORMED_LINE,
        error_message=f"result line {number} could not be read: {type(exc).__name__}: {exc}",
        raw_data=text[:2000],
    )


def _guess_custom_id(text: str) -> str | None:
    try:
        data: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict):
        value = data.get("custom_id") or data.get("key")
        return str(value) if value else None
    return None


def account(
    results: Iterable[BatchSuccess[T] | BatchError],
    expected_ids: Iterable[str] | None,
    *,
    missing_type: ErrorType = ErrorType.MISSING,
    missing_message: str = "the provider returned no result for this request",
) -> Iterator[BatchSuccess[T] | BatchError]:
    """Make every expected request come back exactly once.

    Duplicate lines for one id keep the first; ids the provider never answered become
    ``missing`` errors (or ``expired``/``cancelled``, when the batch ended that way).
    Without ``expected_ids`` only duplicates are removed.
    """
    seen: set[str] = set()
    for result in results:
        if result.custom_id in seen:
            continue
        seen.add(result.custom_id)
        yield result
    if expected_ids is None:
        return
    for custom_id in expected_ids:
        if custom_id not in seen:
            seen.add(custom_id)
            yield BatchError(
                custom_id=custom_id, error_type=missing_type, error_message=missing_message
            )
