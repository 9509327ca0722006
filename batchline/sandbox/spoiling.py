"""How a line fault spoils a model's answer: broken JSON, a broken schema, a cut-off text.

Each provider writes its answers in its own shape, but the ways an answer goes wrong are the
same everywhere, so a client's parser and schema checks meet the same failures from all three.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from batchline.sandbox.fake_model import resolve_ref
from batchline.sandbox.faults import LineFault


def answer_text(answer: Any) -> str:
    """An answer as the model writes it: strings as they are, anything else as compact JSON."""
    if isinstance(answer, str):
        return answer
    return orjson.dumps(answer).decode()


def decoded(answer: Any) -> Any:
    """A scripted answer given as JSON text, parsed; anything else (or text that is not JSON)
    as it is, so a scripted answer can be spoiled or used as a tool's input like a generated one.
    """
    if isinstance(answer, str):
        try:
            return orjson.loads(answer)
        except orjson.JSONDecodeError:
            return answer
    return answer


def break_json(text: str) -> str:
    """Text that no longer parses as JSON, as when a model loses track of its closing brace."""
    stripped = text.rstrip()
    if stripped.endswith(("}", "]")):
        return stripped[:-1]
    return "{" + text


def cut_short(text: str) -> str:
    """The first half of ``text``: an answer stopped by the token limit."""
    return text[: max(1, len(text) // 2)]


def written_answer(answer: Any, schema: dict[str, Any] | None, fault: LineFault | None) -> str:
    """The text the model writes, spoiled as the fault asks (plain text only gets truncated)."""
    if schema is not None and fault is LineFault.SCHEMA_VIOLATION:
        answer = violate_schema(answer, schema)
    text = answer_text(answer)
    if schema is not None and fault is LineFault.INVALID_JSON:
        return break_json(text)
    if fault is LineFault.TRUNCATED:
        return cut_short(text)
    return text


def partial_value(value: Any) -> Any:
    """What was complete when output stopped halfway: the first half of an object's fields."""
    if isinstance(value, dict):
        return {key: value[key] for key in list(value)[: len(value) // 2]}
    return value


def violate_schema(value: Any, schema: dict[str, Any] | None) -> Any:
    """A value that still parses but breaks ``schema``: a required field missing, else a wrong type.

    Objects stay objects (a tool's input must be one), so a client's schema check, not its JSON
    parser, is what catches it.
    """
    if not isinstance(value, dict):
        return _wrong_type(value)
    node = resolve_ref(schema, schema) if schema else {}
    broken = copy.deepcopy(value)
    for key in node.get("required", []):
        if key in broken:
            del broken[key]
            return broken
    for key in broken:
        broken[key] = _wrong_type(broken[key])
        return broken
    return [broken]


def _wrong_type(value: Any) -> Any:
    if isinstance(value, str):
        return 12345
    if isinstance(value, bool | int | float):
        return "not a number"
    if isinstance(value, list | dict):
        return "not a container"
    return 0
