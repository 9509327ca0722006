"""The success fast path (``Provider.plain_answer``) gives exactly what the general path gives.

The fast path skips the general path's checks for the common line, so it is only correct if it
declines every line the general path would judge differently. These tests take success lines
of every shape we know (the providers' real lines, the benchmark's generated ones, tool-call
answers) and break them one field at a time (removed, or replaced by a value of another type),
then parse each line with and without the fast path and compare the results field by field.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, ConfigDict

from batchline.batching import BatchProcessor
from batchline.batching.parsing import iter_parse
from batchline.batching.results import BatchError, BatchSuccess
from benchmarks.inputs import Contact
from benchmarks.result_lines import iter_result_lines
from tests.conftest import REAL_OUTPUTS

MODELS = {
    "openai": "openai/gpt-4o",
    "anthropic": "anthropic/claude-haiku-4-5",
    "google": "google/gemini-2.5-flash",
}
REAL_FILES = {"openai": "openai_*.jsonl", "anthropic": "anthropic_*.jsonl", "google": "vertex_*"}

#: What a broken field becomes: every JSON type, empty and not.
REPLACEMENTS: tuple[Any, ...] = (None, "", "x", 0, 7, True, [], [{}], {}, {"type": "text"})


class AnyObject(BaseModel):
    """Accepts every JSON object, so real lines answered for other schemas still succeed."""

    model_config = ConfigDict(extra="allow")


def tool_lines(provider: str) -> list[dict[str, Any]]:
    """Tool-mode answers: no real published line has one (see the outputs' README)."""
    answer = {"name": "Ann", "age": 3, "interests": [], "address": {"city": "A", "country": "B"}}
    if provider == "openai":
        call = {"id": "call_1", "type": "function"}
        call["function"] = {"name": "Contact", "arguments": orjson.dumps(answer).decode()}
        message = {"role": "assistant", "content": "Sure.", "refusal": None, "tool_calls": [call]}
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
        body = {"choices": [choice], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}
        return [{"custom_id": "tool-1", "response": {"status_code": 200, "body": body}}]
    if provider == "anthropic":
        block = {"type": "tool_use", "id": "toolu_1", "name": "Contact", "input": answer}
        # A text block before the call that is itself a valid answer: the call must win.
        said = {"type": "text", "text": orjson.dumps({**answer, "name": "Bo"}).decode()}
        return [
            {"custom_id": f"tool-{n}", "result": {"type": "succeeded", "message": message}}
            for n, content in enumerate(([block], [said, block]))
            for message in [{"content": content, "stop_reason": "tool_use", "usage": {}}]
        ]
    return []


def base_lines(provider: str) -> list[dict[str, Any]]:
    lines = [orjson.loads(line) for line in iter_result_lines(provider, 60)]
    for path in sorted(REAL_OUTPUTS.glob(REAL_FILES[provider])):
        lines += [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return lines + tool_lines(provider)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and index path inside a decoded line."""
    if not isinstance(value, dict | list):
        return
    for key, child in value.items() if isinstance(value, dict) else enumerate(value):
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def broken(line: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The line with one field removed, or replaced by each value of ``REPLACEMENTS``."""
    for path in paths(line):
        for replacement in (*REPLACEMENTS, KeyError):
            variant = copy.deepcopy(line)
            parent = variant
            for key in path[:-1]:
                parent = parent[key]
            if replacement is KeyError:
                del parent[path[-1]]
            else:
                parent[path[-1]] = replacement
            yield variant


def summary(result: BatchSuccess[Any] | BatchError) -> tuple[Any, ...]:
    if isinstance(result, BatchSuccess):
        return ("ok", result.custom_id, result.result.model_dump(), result.usage)
    return ("error", result.custom_id, result.error_type, result.error_message,
            result.provider_code, result.raw_data)  # fmt: skip


def decoded(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def both_paths(
    provider: str, model: type[BaseModel], lines: list[bytes]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    handler = BatchProcessor(MODELS[provider], model).provider
    fast = list(iter_parse(lines, handler.parse_line, model, handler.plain_answer))
    general = list(iter_parse(lines, handler.parse_line, model))
    taken = sum(handler.plain_answer(decoded(line)) is not None for line in lines)
    return [summary(r) for r in fast], [summary(r) for r in general], taken


@pytest.mark.parametrize("provider", list(MODELS))
def test_fast_path_takes_ordinary_success_lines_and_agrees_with_the_general_path(
    provider: str,
) -> None:
    lines = [orjson.dumps(line) for line in base_lines(provider)]

    fast, general, taken = both_paths(provider, Contact, lines)

    assert fast == general
    # The benchmark's 60 lines hold one error line; the fast path took the other successes.
    assert taken >= 59
    assert sum(s[0] == "ok" for s in fast) >= 59


@pytest.mark.parametrize("provider", list(MODELS))
@pytest.mark.parametrize("model", [Contact, AnyObject], ids=["Contact", "AnyObject"])
def test_every_broken_field_gets_the_same_result_on_both_paths(
    provider: str, model: type[BaseModel]
) -> None:
    originals = base_lines(provider)
    # Two generated lines (a success and the error line) stand for the other 58.
    originals = [originals[0], originals[49], *originals[60:]]
    lines = [orjson.dumps(variant) for line in originals for variant in broken(line)]

    fast, general, taken = both_paths(provider, model, lines)

    assert len(lines) > 1000
    assert taken > 0
    mismatches = [(line, a, b) for line, a, b in zip(lines, fast, general, strict=True) if a != b]
    assert not mismatches, mismatches[:3]


@pytest.mark.parametrize("provider", list(MODELS))
def test_lines_that_are_not_objects_are_malformed_on_both_paths(provider: str) -> None:
    lines = [b"[1, 2]", b'"text"', b"42", b"null", b"{not json", b"{}"]

    fast, general, _ = both_paths(provider, Contact, lines)

    assert fast == general
    assert all(s[0] == "error" for s in fast)
