"""Anthropic's result lines (``succeeded``, ``errored``, ``canceled``, ``expired``) as
``LineOutcome``s. ``plain_answer`` is the fast path for the common succeeded line;
``read_result_line`` reads everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from batchline.batching.providers.base import LineOutcome, PlainAnswer, token_usage
from batchline.batching.results import ErrorType

#: Result types of requests that never ran, and what batchline says about them.
NOT_RUN: dict[str, tuple[ErrorType, str]] = {
    "canceled": (ErrorType.CANCELLED, "the batch was cancelled before this request ran"),
    "expired": (ErrorType.EXPIRED, "the batch expired (24 h) before this request ran"),
}

#: Stop reasons that leave no usable answer (``read_message`` words them).
_NOT_PLAIN_STOP = ("max_tokens", "refusal")
#: Where a plain answer block keeps its answer, and what type the answer must have.
_ANSWER_FIELD = {"tool_use": "input", "text": "text"}
_ANSWER_TYPE = {"tool_use": dict, "text": str}


def read_result_line(line: bytes | str) -> LineOutcome:
    """Read one results line; ``ValueError`` (or ``KeyError``/``TypeError``) only when the
    line is not a results line at all."""
    record = orjson.loads(line)
    custom_id = record["custom_id"]
    if not isinstance(custom_id, str):
        raise ValueError(f"custom_id is not a string: {custom_id!r}")
    result = record["result"]
    kind = result["type"]
    if kind == "succeeded":
        return read_message(custom_id, result["message"], record)
    if kind == "errored":
        code, message = read_error(result.get("error"))
        return LineOutcome(
            custom_id,
            error_type=ErrorType.PROVIDER_ERROR,
            error_message=message,
            provider_code=code,
            raw=record,
        )
    if kind in NOT_RUN:
        error_type, message = NOT_RUN[kind]
        return LineOutcome(
            custom_id,
            error_type=error_type,
            error_message=message,
            provider_code=kind,
            raw=record,
        )
    raise ValueError(f"unknown Anthropic result type {kind!r}")


def plain_answer(record: Any) -> PlainAnswer | None:
    """A succeeded line whose one content block is the forced tool call or the JSON text,
    stopped for a reason other than ``max_tokens`` or a refusal; see ``read_message``."""
    try:
        custom_id = record["custom_id"]
        result = record["result"]
        if result["type"] != "succeeded":
            return None
        message = result["message"]
        if message.get("stop_reason") in _NOT_PLAIN_STOP:
            return None
        content = message["content"]
        if len(content) != 1:
            return None
        block = content[0]
        answer = block[_ANSWER_FIELD[block["type"]]]
    except (KeyError, TypeError, IndexError, AttributeError):
        return None
    if type(custom_id) is not str or type(answer) is not _ANSWER_TYPE[block["type"]]:
        return None
    return custom_id, answer, read_usage(message.get("usage"))


def read_message(custom_id: str, message: dict[str, Any], record: Any) -> LineOutcome:
    """A succeeded line: the forced tool's input, else the first text block (the answer in
    ``json_schema`` mode, or plain text that will fail validation), unless the model stopped
    for a reason that leaves no usable answer."""
    usage = read_usage(message.get("usage"))
    content = message.get("content") or []
    stop_reason = message.get("stop_reason")
    if stop_reason == "max_tokens":
        return LineOutcome(
            custom_id,
            error_type=ErrorType.TRUNCATED,
            error_message=f"the answer was cut off at max_tokens ({describe_usage(usage)})",
            provider_code="max_tokens",
            usage=usage,
            raw=record,
        )
    if stop_reason == "refusal":
        said = first_text(content)
        return LineOutcome(
            custom_id,
            error_type=ErrorType.REFUSAL,
            error_message=f"the model refused: {said}" if said else "the model refused",
            provider_code="refusal",
            usage=usage,
            raw=record,
        )
    for block in content:
        if block.get("type") == "tool_use":
            return LineOutcome(custom_id, data=block.get("input"), usage=usage, raw=record)
    return LineOutcome(custom_id, text=first_text(content) or "", usage=usage, raw=record)


def first_text(content: Iterable[dict[str, Any]]) -> str | None:
    for block in content:
        if block.get("type") == "text":
            text = block.get("text")
            return text if isinstance(text, str) else None
    return None


def read_error(error: Any) -> tuple[str | None, str]:
    """``(type, message)`` of an errored line. The documented shape nests the error object
    in an error response (``{"type": "error", "error": {...}}``); a flat one is read too."""
    if not isinstance(error, dict):
        return None, "Anthropic reported an error for this request without details"
    nested = error.get("error")
    inner: dict[str, Any] = nested if isinstance(nested, dict) else error
    code = inner.get("type")
    message = inner.get("message") or "Anthropic reported an error for this request"
    return (str(code) if code else None), str(message)


#: The usage fields that add up to the whole prompt.
_PROMPT_PARTS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def read_usage(usage: Any) -> dict[str, int] | None:
    """``message.usage`` in batchline's vocabulary, where ``input_tokens`` is the whole prompt
    as OpenAI and Gemini count it. Anthropic's ``input_tokens`` are only the tokens after the
    last cache breakpoint; the prompt is that plus ``cache_read_input_tokens`` and
    ``cache_creation_input_tokens`` (prompt-caching guide,
    https://platform.claude.com/docs/en/docs/build-with-claude/prompt-caching, read 2026-12-02).
    """
    if not isinstance(usage, dict):
        return None
    prompt = [usage.get(name) for name in _PROMPT_PARTS]
    return token_usage(
        sum(part for part in prompt if type(part) is int) if type(prompt[0]) is int else None,
        usage.get("output_tokens"),
        cached_input_tokens=usage.get("cache_read_input_tokens"),
    )


def describe_usage(usage: dict[str, int] | None) -> str:
    if usage and "output_tokens" in usage:
        return f"{usage['output_tokens']} output tokens"
    return "output token count not reported"
