"""What a ``/v1/responses`` request is answered with: a ``response`` object, as lines carry it.

The shape follows the openai SDK's typed model (``openai.types.responses.Response``): an
``output`` list holding a ``message`` item with ``output_text`` content, or a ``function_call``
item when a function tool is forced. Structured output is asked for with ``text.format``; a
body that still uses Chat Completions' ``response_format`` is refused line by line with the
real API's words (a real error file of a ``/v1/responses`` batch, 2025-11).
"""

from __future__ import annotations

from typing import Any

from batchline.sandbox.fake_model import Ask, FakeModel, block_texts, prompt_tokens, schema_asked_in
from batchline.sandbox.faults import LineFault
from batchline.sandbox.ids import random_hex
from batchline.sandbox.openai.answers import REFUSAL, line_response
from batchline.sandbox.spoiling import written_answer

#: The real API's answer to ``response_format`` on the Responses API, word for word.
MOVED_RESPONSE_FORMAT = (
    "Unsupported parameter: 'response_format'. In the Responses API, this parameter has moved"
    " to 'text.format'. Try again with the new parameter. See the API documentation for more"
    " information: https://platform.openai.com/docs/api-reference/responses/create."
)


def refusal_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """The error-file ``response`` for a body the Responses API refuses, or None if it is fine."""
    if "response_format" in body:
        err = {
            "message": MOVED_RESPONSE_FORMAT,
            "type": "invalid_request_error",
            "param": None,
            "code": "unsupported_parameter",
        }
        return line_response({"error": err}, 400)
    return None


def read_ask(body: dict[str, Any]) -> Ask:
    """What the body asks for: ``text.format`` first, then a forced function tool, then a JSON
    schema written into the prompt."""
    text_format = (body.get("text") or {}).get("format")
    if isinstance(text_format, dict):
        if text_format.get("type") == "json_schema":
            return Ask(schema=text_format.get("schema") or {})
        if text_format.get("type") == "json_object":
            return Ask(schema={"type": "object", "properties": {"answer": {"type": "string"}}})
    functions = [
        tool
        for tool in body.get("tools") or []
        if isinstance(tool, dict) and tool.get("type") == "function"
    ]
    choice = body.get("tool_choice")
    wanted: Any = None
    if isinstance(choice, dict) and choice.get("type") == "function":
        wanted = choice.get("name")
    elif choice == "required" and len(functions) == 1:
        wanted = functions[0].get("name")
    for function in functions:
        if wanted is not None and function.get("name") == wanted:
            return Ask(schema=function.get("parameters") or {}, tool=wanted)
    schema = schema_asked_in(_prompt_texts(body))
    return Ask(schema=schema) if schema is not None else Ask()


def _prompt_texts(body: dict[str, Any]) -> list[str]:
    """The instructions and every input message's text (``input_text`` parts included)."""
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    contents = [item.get("content") for item in items or [] if isinstance(item, dict)]
    return block_texts([body.get("instructions"), *contents])


def response(
    custom_id: str, body: dict[str, Any], model: FakeModel, fault: LineFault | None, created: int
) -> dict[str, Any]:
    """A ``response`` body shaped like the Responses API's, for one request of a batch."""
    ask = read_ask(body)
    incomplete = fault is LineFault.TRUNCATED
    item_status = "incomplete" if incomplete else "completed"
    if fault is LineFault.REFUSAL:
        written = REFUSAL
        content = [{"type": "refusal", "refusal": REFUSAL}]
        output = [_message(content, item_status)]
    else:
        written = written_answer(model.answer(custom_id, ask.schema, body), ask.schema, fault)
        if ask.tool is None:
            text = {"type": "output_text", "text": written, "annotations": [], "logprobs": []}
            output = [_message([text], item_status)]
        else:
            output = [
                {
                    "id": f"fc_{random_hex(48)}",
                    "type": "function_call",
                    "status": item_status,
                    "arguments": written,
                    "call_id": f"call_{random_hex(24)}",
                    "name": ask.tool,
                }
            ]
    texts = _prompt_texts(body)
    prompt = prompt_tokens(texts, ask.schema, len(texts), per_message=3)
    written_tokens = FakeModel.count_tokens(written)
    limit = body.get("max_output_tokens")
    if incomplete and isinstance(limit, int):
        written_tokens = limit
    return {
        "id": f"resp_{random_hex(48)}",
        "object": "response",
        "created_at": created,
        "completed_at": created,
        "status": "incomplete" if incomplete else "completed",
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": limit,
        "model": body.get("model"),
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": False,
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": written_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + written_tokens,
        },
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def _message(content: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {
        "id": f"msg_{random_hex(48)}",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }
