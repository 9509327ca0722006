"""OpenAI's result lines: output-file successes and error-file failures, as ``LineOutcome``s.

One output line is an HTTP response (a 200 with a chat completion, or a 4xx/5xx with an error
body); one error-file line is a request that never ran (the batch expired or was cancelled).
``plain_answer`` is the fast path for the common 200; ``read_result_line`` reads everything.
"""

from __future__ import annotations

from typing import Any

import orjson

from batchline.batching.providers.base import LineOutcome, PlainAnswer, token_usage
from batchline.batching.results import ErrorType

#: Error codes OpenAI writes for requests that never ran because the batch ended early.
UNRUN_ERROR_TYPES: dict[str, ErrorType] = {
    "batch_expired": ErrorType.EXPIRED,
    "batch_cancelled": ErrorType.CANCELLED,
}


def read_result_line(line: bytes | str) -> LineOutcome:
    """Read an output-file or error-file line. Raises ``ValueError`` if it has neither
    shape."""
    data = orjson.loads(line)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise ValueError("the line has no custom_id")
    response = data.get("response")
    if isinstance(response, dict):
        return _response_outcome(custom_id, response, data)
    error = data.get("error")
    if isinstance(error, dict):
        return _unrun_outcome(custom_id, error, data)
    raise ValueError("the line has neither a response nor an error")


def plain_answer(record: Any) -> PlainAnswer | None:
    """A 200 whose first choice carries content (or a tool call) and no refusal, stopped
    for a reason other than length or the content filter; see ``_response_outcome``."""
    try:
        custom_id = record["custom_id"]
        body = record["response"]["body"]
        if record["response"]["status_code"] != 200:
            return None
        choice = body["choices"][0]
        message = choice["message"]
        if message.get("refusal") or choice.get("finish_reason") in _NOT_PLAIN_FINISH:
            return None
        calls = message.get("tool_calls")
        answer = calls[0]["function"]["arguments"] if calls else message["content"]
    except (KeyError, TypeError, IndexError, AttributeError):
        return None
    if type(custom_id) is not str or not custom_id or type(answer) is not str:
        return None
    return custom_id, answer, usage_counts(body.get("usage"))


#: Finish reasons that make a 200 an error (``_response_outcome`` words them).
_NOT_PLAIN_FINISH = ("length", "content_filter")


def _response_outcome(custom_id: str, response: dict[str, Any], line: Any) -> LineOutcome:
    status_code = response.get("status_code")
    body = response.get("body")
    if status_code != 200:
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        kind = error.get("type") or "error"
        message = error.get("message") or "no message"
        return LineOutcome(
            custom_id=custom_id,
            error_type=ErrorType.PROVIDER_ERROR,
            error_message=f"HTTP {status_code} {kind}: {message}",
            provider_code=error.get("code") or error.get("type"),
            raw=line,
        )
    if not isinstance(body, dict):
        raise ValueError("a 200 response without a body")
    if body.get("object") == "response":
        return _responses_outcome(custom_id, body, line)
    usage = usage_counts(body.get("usage"))
    choices = body.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return _failed(custom_id, ErrorType.PROVIDER_ERROR, "the response has no choices", line)
    choice = choices[0]
    message = choice.get("message") or {}
    finish_reason = choice.get("finish_reason")
    if message.get("refusal"):
        return _failed(custom_id, ErrorType.REFUSAL, f"refused: {message['refusal']}", line, usage)
    if finish_reason == "content_filter":
        reason = "the answer was withheld by OpenAI's content filter"
        return _failed(custom_id, ErrorType.REFUSAL, reason, line, usage)
    if finish_reason == "length":
        reason = "the answer was cut off at the token limit (finish_reason=length)"
        return _failed(custom_id, ErrorType.TRUNCATED, reason, line, usage)
    for call in message.get("tool_calls") or []:
        arguments = (call.get("function") or {}).get("arguments")
        if isinstance(arguments, str):
            return LineOutcome(custom_id=custom_id, text=arguments, usage=usage, raw=line)
    content = message.get("content")
    if isinstance(content, str):
        return LineOutcome(custom_id=custom_id, text=content, usage=usage, raw=line)
    reason = f"the response has neither content nor a tool call (finish_reason={finish_reason})"
    return _failed(custom_id, ErrorType.PROVIDER_ERROR, reason, line, usage)


def _responses_outcome(custom_id: str, body: dict[str, Any], line: Any) -> LineOutcome:
    """A Responses API body (``/v1/responses`` batches): ``output`` items, ``status`` and
    ``incomplete_details`` in place of choices and finish reasons
    (``openai.types.responses.Response``)."""
    usage = responses_usage(body.get("usage"))
    texts: list[str] = []
    for item in body.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call" and isinstance(item.get("arguments"), str):
            return LineOutcome(custom_id=custom_id, text=item["arguments"], usage=usage, raw=line)
        if item.get("type") != "message":
            continue  # reasoning items carry no answer
        for part in item.get("content") or []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "refusal":
                message = f"refused: {part.get('refusal')}"
                return _failed(custom_id, ErrorType.REFUSAL, message, line, usage)
            if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
    if body.get("status") == "incomplete":
        reason = (body.get("incomplete_details") or {}).get("reason")
        if reason == "content_filter":
            message = "the answer was withheld by OpenAI's content filter"
            return _failed(custom_id, ErrorType.REFUSAL, message, line, usage)
        message = f"the answer was cut off (status incomplete, reason {reason})"
        return _failed(custom_id, ErrorType.TRUNCATED, message, line, usage)
    if texts:
        return LineOutcome(custom_id=custom_id, text="".join(texts), usage=usage, raw=line)
    message = f"the response has no output text (status {body.get('status')})"
    return _failed(custom_id, ErrorType.PROVIDER_ERROR, message, line, usage)


def responses_usage(usage: Any) -> dict[str, int] | None:
    """The Responses API's token counts (``input_tokens``, ``output_tokens`` and their
    details) in batchline's vocabulary."""
    if not isinstance(usage, dict):
        return None
    return token_usage(
        usage.get("input_tokens"),
        usage.get("output_tokens"),
        cached_input_tokens=_field(usage.get("input_tokens_details"), "cached_tokens"),
        reasoning_tokens=_field(usage.get("output_tokens_details"), "reasoning_tokens"),
    )


def _unrun_outcome(custom_id: str, error: dict[str, Any], line: Any) -> LineOutcome:
    code = error.get("code")
    message = error.get("message") or "no message"
    return LineOutcome(
        custom_id=custom_id,
        error_type=UNRUN_ERROR_TYPES.get(str(code), ErrorType.PROVIDER_ERROR),
        error_message=f"{code}: {message}" if code else message,
        provider_code=code,
        raw=line,
    )


def _failed(
    custom_id: str,
    error_type: ErrorType,
    message: str,
    line: Any,
    usage: dict[str, int] | None = None,
) -> LineOutcome:
    return LineOutcome(
        custom_id=custom_id, error_type=error_type, error_message=message, usage=usage, raw=line
    )


def usage_counts(usage: Any) -> dict[str, int] | None:
    """OpenAI's token counts in batchline's vocabulary (cached and reasoning tokens are nested
    in OpenAI's details objects)."""
    if not isinstance(usage, dict):
        return None
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    # An odd details object loses its count, never the answer.
    return token_usage(
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        cached_input_tokens=_field(prompt_details, "cached_tokens"),
        reasoning_tokens=_field(completion_details, "reasoning_tokens"),
    )


def _field(value: Any, name: str) -> Any:
    return value.get(name) if type(value) is dict else None
