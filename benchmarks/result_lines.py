"""Result files in each provider's real shape, with a fixed share of error lines.

The shapes follow what the providers actually write (the field sets seen in
``tests/fixtures/real-batch-outputs``: ids, usage details, service tier, Vertex's echoed request
and ``processed_time``); the values are generated here from a seed, nothing is copied. Lines
carry the fields a parser has to skip over, because skipping them is part of the real cost.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks.inputs import SYSTEM_PROMPT, conversation, fake_contact

#: Every ``ERROR_EVERY``-th line is an error line: 2 %, as the issue asks.
ERROR_EVERY = 50
#: Distinct generated lines the result files cycle through (a multiple of ``ERROR_EVERY``).
TEMPLATES = 1_000
#: Lines are written in blocks of this many, so generating a million lines stays flat in memory.
WRITE_BLOCK = 5_000

OPENAI_MODEL = "gpt-4.1-mini-2025-04-14"
ANTHROPIC_MODEL = "claude-haiku-4-5-20251001"
GEMINI_MODEL = "gemini-2.5-flash"

#: The response schema Vertex echoes back inside every output line (OpenAPI subset).
GEMINI_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "OBJECT",
    "properties": {
        "name": {"type": "STRING"},
        "age": {"type": "INTEGER"},
        "email": {"type": "STRING", "nullable": True},
        "interests": {"type": "ARRAY", "items": {"type": "STRING"}},
        "address": {
            "type": "OBJECT",
            "properties": {"city": {"type": "STRING"}, "country": {"type": "STRING"}},
            "required": ["city", "country"],
        },
    },
    "required": ["name", "age", "interests", "address"],
}

#: (HTTP status, type, code, message) of the OpenAI error-file lines, used in turn.
OPENAI_ERRORS = (
    (
        400,
        "invalid_request_error",
        "invalid_value",
        "Invalid schema for response_format 'Contact': 'required' is missing 'email'.",
    ),
    (
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        "Rate limit reached for requests in this batch. Please try again later.",
    ),
    (500, "server_error", None, "The server had an error while processing your request."),
)
#: (type, message) of the Anthropic ``errored`` lines, used in turn.
ANTHROPIC_ERRORS = (
    ("invalid_request_error", "messages.1.content: text content blocks must be non-empty"),
    ("overloaded_error", "Overloaded"),
)
#: Vertex's ``status`` strings for failed requests, used in turn.
VERTEX_ERRORS = (
    'Bad Request: {"error": {"code": 400, "message": "Request contains an invalid argument.", '
    '"status": "INVALID_ARGUMENT"}}',
    'Internal error encountered: {"error": {"code": 500, "message": "Internal error '
    'encountered.", "status": "INTERNAL"}}',
)

#: One function per provider: ``(index, rng) -> one line as a JSON-ready dict``.
LineMaker = Callable[[int, random.Random], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ResultFile:
    path: Path
    provider: str
    lines: int
    error_lines: int
    bytes: int


def custom_id(index: int) -> str:
    return f"request-{index}"


def is_error_line(index: int) -> bool:
    return index % ERROR_EVERY == ERROR_EVERY - 1


def _hex(rng: random.Random, length: int) -> str:
    return f"{rng.getrandbits(length * 4):0{length}x}"


def _token(rng: random.Random, length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choices(alphabet, k=length))


# -- OpenAI: output-file lines, and error-file lines for the 2 % -------------------------------
def openai_line(index: int, rng: random.Random) -> dict[str, Any]:
    line_id = f"batch_req_{_hex(rng, 32)}"
    request_id = _hex(rng, 32)
    if is_error_line(index):
        status, kind, code, message = OPENAI_ERRORS[index // ERROR_EVERY % len(OPENAI_ERRORS)]
        error = {"message": message, "type": kind, "param": None, "code": code}
        return {
            "id": line_id,
            "custom_id": custom_id(index),
            "response": {"status_code": status, "request_id": request_id, "body": {"error": error}},
            "error": None,
        }
    answer = orjson.dumps(fake_contact(rng)).decode()
    prompt_tokens = rng.randrange(180, 260)
    completion_tokens = rng.randrange(30, 60)
    body = {
        "id": f"chatcmpl-{_token(rng, 29)}",
        "object": "chat.completion",
        "created": 1_760_000_000 + index,
        "model": OPENAI_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": answer,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": f"fp_{_hex(rng, 10)}",
    }
    return {
        "id": line_id,
        "custom_id": custom_id(index),
        "response": {"status_code": 200, "request_id": request_id, "body": body},
        "error": None,
    }


# -- Anthropic: succeeded lines with a tool_use answer, errored lines for the 2 % --------------
def anthropic_line(index: int, rng: random.Random) -> dict[str, Any]:
    if is_error_line(index):
        kind, message = ANTHROPIC_ERRORS[index // ERROR_EVERY % len(ANTHROPIC_ERRORS)]
        error = {"details": {"error_visibility": "user_facing"}, "type": kind, "message": message}
        return {
            "custom_id": custom_id(index),
            "result": {
                "type": "errored",
                "error": {"type": "error", "error": error, "request_id": None},
            },
        }
    tool_use = {
        "type": "tool_use",
        "id": f"toolu_01{_token(rng, 22)}",
        "name": "Contact",
        "input": fake_contact(rng),
    }
    reply = {
        "model": ANTHROPIC_MODEL,
        "id": f"msg_01{_token(rng, 22)}",
        "type": "message",
        "role": "assistant",
        "content": [tool_use],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "stop_details": None,
        "usage": {
            "input_tokens": rng.randrange(600, 700),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": rng.randrange(60, 110),
            "service_tier": "batch",
            "inference_geo": "not_available",
        },
    }
    return {"custom_id": custom_id(index), "result": {"type": "succeeded", "message": reply}}


# -- Vertex: predictions.jsonl lines, echoing the request; a non-empty status for the 2 % ------
def vertex_line(index: int, rng: random.Random) -> dict[str, Any]:
    contact = fake_contact(rng)
    user_text = conversation(contact)[1]["content"]
    request = {
        "contents": [{"role": "user", "parts": [{"text": user_text}]}],
        "systemInstruction": {"parts": [{"text": SYSTEM_PROMPT}]},
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": GEMINI_RESPONSE_SCHEMA,
            "maxOutputTokens": 1000,
            "temperature": 0.1,
        },
        "labels": {"custom_id": custom_id(index)},
    }
    processed = f"2025-11-20T10:{index // 60 % 60:02d}:{index % 60:02d}.{index % 1000:03d}+00:00"
    if is_error_line(index):
        status = VERTEX_ERRORS[index // ERROR_EVERY % len(VERTEX_ERRORS)]
        return {
            "key": custom_id(index),
            "request": request,
            "status": status,
            "processed_time": processed,
        }
    prompt_tokens = rng.randrange(150, 220)
    output_tokens = rng.randrange(40, 80)
    response = {
        "candidates": [
            {
                "avgLogprobs": -rng.random(),
                "content": {
                    "parts": [{"text": orjson.dumps(contact, option=orjson.OPT_INDENT_2).decode()}],
                    "role": "model",
                },
                "finishReason": "STOP",
                "score": -rng.random() * 20,
            }
        ],
        "createTime": processed.replace("+00:00", "Z"),
        "modelVersion": GEMINI_MODEL,
        "responseId": _token(rng, 23),
        "usageMetadata": {
            "billablePromptUsage": {"textCount": prompt_tokens * 4},
            "candidatesTokenCount": output_tokens,
            "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": output_tokens}],
            "promptTokenCount": prompt_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
            "totalTokenCount": prompt_tokens + output_tokens,
            "trafficType": "ON_DEMAND",
        },
    }
    return {
        "key": custom_id(index),
        "request": request,
        "status": "",
        "response": response,
        "processed_time": processed,
    }


LINE_MAKERS: dict[str, LineMaker] = {
    "openai": openai_line,
    "anthropic": anthropic_line,
    "google": vertex_line,
}


#: Stand-in for a line's ids in the encoded templates (cannot occur in generated content).
_ID_MARK = "@@ID@@"


def _template(line: dict[str, Any]) -> list[bytes]:
    """Encode ``line`` with its custom id replaced by a mark, split at the mark, so each line is a
    join of the pieces around its own id. (OpenAI's per-line ``id`` repeats every
    ``TEMPLATES`` lines; no parser reads it.)"""
    line = dict(line)
    if "key" in line:  # Vertex: the id rides in ``key`` and in the echoed request's labels
        line["key"] = _ID_MARK
        line["request"] = {**line["request"], "labels": {"custom_id": _ID_MARK}}
    else:
        line["custom_id"] = _ID_MARK
    return orjson.dumps(line).split(_ID_MARK.encode())


def iter_result_lines(provider: str, count: int, seed: int = 11) -> Iterator[bytes]:
    """``count`` encoded lines (without newlines) of ``provider``'s result shape.

    The content cycles through ``TEMPLATES`` generated lines (a multiple of ``ERROR_EVERY``, so
    error lines stay exactly where ``is_error_line`` says); only the custom id changes per
    line, and it is unique. Encoding every line from scratch would make a million Vertex
    lines take a minute.
    """
    make = LINE_MAKERS[provider]
    rng = random.Random(seed)
    templates = [_template(make(index, rng)) for index in range(min(TEMPLATES, count))]
    for index in range(count):
        yield custom_id(index).encode().join(templates[index % TEMPLATES])


def write_result_file(provider: str, count: int, path: Path, seed: int = 11) -> ResultFile:
    """Write ``count`` result lines to ``path`` in blocks; return what was written."""
    block: list[bytes] = []
    with open(path, "wb") as sink:
        for line in iter_result_lines(provider, count, seed):
            block.append(line)
            if len(block) >= WRITE_BLOCK:
                sink.write(b"\n".join(block) + b"\n")
                block.clear()
        if block:
            sink.write(b"\n".join(block) + b"\n")
    errors = sum(1 for index in range(count) if is_error_line(index))
    return ResultFile(path, provider, count, errors, path.stat().st_size)
