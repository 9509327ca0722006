"""What a message request is answered with: a ``message`` with text or a forced tool call."""

from __future__ import annotations

from typing import Any

from batchline.sandbox.fake_model import (
    Ask,
    FakeModel,
    block_texts,
    cached_tokens,
    prompt_tokens,
    schema_asked_in,
)
from batchline.sandbox.faults import LineFault
from batchline.sandbox.ids import random_token
from batchline.sandbox.spoiling import (
    answer_text,
    break_json,
    decoded,
    partial_value,
    violate_schema,
    written_answer,
)


def read_ask(params: dict[str, Any]) -> Ask:
    """What the params ask for: a forced tool first (the default way), then ``output_config``,
    then a JSON schema the prompt carries (batchata's and steadybatch's way on Anthropic)."""
    tools = [t for t in params.get("tools") or [] if isinstance(t, dict) and "input_schema" in t]
    choice = params.get("tool_choice")
    wanted = None
    if isinstance(choice, dict) and choice.get("type") == "tool":
        wanted = choice.get("name")
    elif isinstance(choice, dict) and choice.get("type") == "any" and len(tools) == 1:
        wanted = tools[0].get("name")
    for tool in tools:
        if wanted is not None and tool.get("name") == wanted:
            return Ask(schema=tool["input_schema"] or {}, tool=wanted)
    output_format = (params.get("output_config") or {}).get("format")
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        return Ask(schema=output_format.get("schema") or {})
    contents = [m.get("content") for m in params.get("messages") or [] if isinstance(m, dict)]
    schema = schema_asked_in(block_texts([params.get("system"), *contents]))
    return Ask(schema=schema) if schema is not None else Ask()


def _input_tokens(params: dict[str, Any], schema: dict[str, Any] | None) -> int:
    """Plausible prompt size: system and message text, four tokens a message, the schema."""
    contents = [m.get("content") for m in params["messages"] if isinstance(m, dict)]
    texts = block_texts([params.get("system"), *contents])
    return prompt_tokens(texts, schema, len(params["messages"]), per_message=4)


def _cache_reads(params: dict[str, Any], prompt: int) -> int:
    """Cache hits of the prompt: the text of the blocks (system first, then messages) up to
    the last one marked ``cache_control``; none without a marker, as on the real API."""
    blocks: list[Any] = []
    for content in [params.get("system"), *(m.get("content") for m in params["messages"])]:
        if isinstance(content, list):
            blocks.extend(b for b in content if isinstance(b, dict))
    marked = [i for i, block in enumerate(blocks) if block.get("cache_control")]
    if not marked:
        return 0
    return cached_tokens(block_texts([blocks[: marked[-1] + 1]]), prompt)


def _content(ask: Ask, answer: Any, fault: LineFault | None) -> tuple[list[dict[str, Any]], str]:
    """The content blocks and stop_reason for one answer, spoiled as the fault asks."""
    if fault is LineFault.REFUSAL:
        return [], "refusal"
    if ask.tool is not None:
        parsed = decoded(answer)  # a scripted answer may spell the object as JSON text
        tool_input = parsed if isinstance(parsed, dict) else None
        if fault is LineFault.INVALID_JSON:
            # A tool's input is always an object, so "not JSON" shows up as the model writing
            # its JSON as text instead of calling the tool.
            return [{"type": "text", "text": break_json(answer_text(answer))}], "end_turn"
        if tool_input is None:  # a scripted answer that is no object: the model wrote text
            return [{"type": "text", "text": answer_text(answer)}], "end_turn"
        if fault is LineFault.SCHEMA_VIOLATION:
            broken = violate_schema(tool_input, ask.schema)
            tool_input = broken if isinstance(broken, dict) else {"value": broken}
        stop_reason = "tool_use"
        if fault is LineFault.TRUNCATED:
            tool_input, stop_reason = partial_value(tool_input), "max_tokens"
        block = {"type": "tool_use", "id": f"toolu_01{random_token(22)}", "name": ask.tool}
        return [{**block, "input": tool_input}], stop_reason
    text = written_answer(answer, ask.schema, fault)
    stop_reason = "max_tokens" if fault is LineFault.TRUNCATED else "end_turn"
    return [{"type": "text", "text": text}], stop_reason


def message(
    custom_id: str, params: dict[str, Any], model: FakeModel, fault: LineFault | None
) -> dict[str, Any]:
    """A ``message`` shaped like the succeeded results of the live batch API."""
    ask = read_ask(params)
    answer = None if fault is LineFault.REFUSAL else model.answer(custom_id, ask.schema, params)
    content, stop_reason = _content(ask, answer, fault)
    written = "".join(
        b["text"] if b["type"] == "text" else answer_text(b["input"]) for b in content
    )
    output_tokens = FakeModel.count_tokens(written)
    if stop_reason == "max_tokens" and isinstance(params.get("max_tokens"), int):
        output_tokens = params["max_tokens"]
    prompt = _input_tokens(params, ask.schema)
    cache_reads = _cache_reads(params, prompt)
    stop_details = None
    if stop_reason == "refusal":
        stop_details = {"type": "refusal", "category": None, "explanation": None}
    return {
        "model": params.get("model"),
        "id": f"msg_01{random_token(22)}",
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "stop_details": stop_details,
        "usage": {
            # Anthropic's input_tokens leave out the cache reads, reported beside them.
            "input_tokens": prompt - cache_reads,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cache_reads,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens,
            "service_tier": "batch",
            "inference_geo": "not_available",
        },
    }
