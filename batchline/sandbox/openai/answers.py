"""What a chat request is answered with: a ``chat.completion`` body, or the error OpenAI reports.

These are the ``response`` objects of output and error file lines; ``results`` writes them.
"""

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
from batchline.sandbox.faults import LineFault, pick_by_id
from batchline.sandbox.ids import random_hex, random_token
from batchline.sandbox.spoiling import written_answer

#: What the model says when it refuses (the ``refusal`` fault).
REFUSAL = "I'm sorry, but I can't help with that request."

#: Bodies for ``LineFault.ERROR``: a server error, or a request the model could not take.
_LINE_ERRORS = (
    (
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
        None,
    ),
    (
        400,
        "This model's maximum context length is 128000 tokens. However, your messages resulted in"
        " 131072 tokens. Please reduce the length of the messages.",
        "invalid_request_error",
        "messages",
        "context_length_exceeded",
    ),
)


def read_ask(body: dict[str, Any]) -> Ask:
    """What the body asks for: ``response_format`` first, then a forced function tool, then a
    JSON schema written into the messages."""
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema":
            return Ask(schema=(response_format.get("json_schema") or {}).get("schema") or {})
        if response_format.get("type") == "json_object":
            return Ask(schema={"type": "object", "properties": {"answer": {"type": "string"}}})
    functions = [
        tool["function"]
        for tool in body.get("tools") or []
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
    ]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        wanted, named = choice["function"].get("name"), True
    elif choice == "required" and len(functions) == 1:
        wanted, named = functions[0].get("name"), False
    else:
        return _prompt_ask(body)
    for function in functions:
        if function.get("name") == wanted:
            return Ask(schema=function.get("parameters") or {}, tool=wanted, tool_named=named)
    return _prompt_ask(body)


def _prompt_ask(body: dict[str, Any]) -> Ask:
    """JSON for the schema the messages carry, when they carry one and ask for JSON."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    schema = schema_asked_in(block_texts([m.get("content") for m in messages]))
    return Ask(schema=schema) if schema is not None else Ask()


def _prompt_tokens(body: dict[str, Any], schema: dict[str, Any] | None) -> int:
    """Plausible prompt size: the messages' text, three tokens a message, and the schema."""
    messages = body.get("messages") or []
    contents = [message.get("content") for message in messages if isinstance(message, dict)]
    return prompt_tokens(block_texts(contents), schema, len(messages), per_message=3)


def _cached_tokens(body: dict[str, Any], prompt: int) -> int:
    """Cache hits of the prompt: its leading system (or developer) messages' text."""
    prefix: list[Any] = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict) or message.get("role") not in ("system", "developer"):
            break
        prefix.append(message.get("content"))
    return cached_tokens(block_texts(prefix), prompt)


def completion(
    custom_id: str, body: dict[str, Any], model: FakeModel, fault: LineFault | None, created: int
) -> dict[str, Any]:
    """A ``chat.completion`` body shaped like the real batch output lines."""
    ask = read_ask(body)
    message: dict[str, Any] = {"role": "assistant", "content": None}
    finish_reason = "length" if fault is LineFault.TRUNCATED else "stop"
    if fault is LineFault.REFUSAL:
        written = REFUSAL
        message["refusal"] = REFUSAL
    else:
        written = written_answer(model.answer(custom_id, ask.schema, body), ask.schema, fault)
        if ask.tool is None:
            message["content"] = written
        else:
            call = {"name": ask.tool, "arguments": written}
            message["tool_calls"] = [
                {"id": f"call_{random_token(24)}", "type": "function", "function": call}
            ]
            if not ask.tool_named and finish_reason == "stop":
                finish_reason = "tool_calls"
        message["refusal"] = None
    message["annotations"] = []
    prompt = _prompt_tokens(body, ask.schema)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    written_tokens = FakeModel.count_tokens(written)
    if fault is LineFault.TRUNCATED and isinstance(limit, int):
        written_tokens = limit
    return {
        "id": f"chatcmpl-{random_token(29)}",
        "object": "chat.completion",
        "created": created,
        "model": body.get("model"),
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": written_tokens,
            "total_tokens": prompt + written_tokens,
            "prompt_tokens_details": {
                "cached_tokens": _cached_tokens(body, prompt),
                "audio_tokens": 0,
            },
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": None,
    }


def line_response(body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    """A result line's ``response``: the HTTP answer the request would have had on its own."""
    return {"status_code": status, "request_id": random_hex(32), "body": body}


def failed_response(custom_id: str) -> dict[str, Any]:
    """An error-file ``response`` for ``LineFault.ERROR``: a 500 or a 400, by id."""
    status, message, kind, param, code = pick_by_id(custom_id, _LINE_ERRORS)
    err = {"message": message, "type": kind, "param": param, "code": code}
    return line_response({"error": err}, status)


def malformed_response(exc: Exception) -> dict[str, Any]:
    """An error-file ``response`` for a request body the sandbox could not answer."""
    err = {
        "message": f"Invalid request body: {exc!r}",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    return line_response({"error": err}, 400)
