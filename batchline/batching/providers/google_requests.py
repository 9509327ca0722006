"""Vertex AI request lines: OpenAI-style messages into Gemini ``contents`` and
``systemInstruction``, with the response schema and generation settings encoded once per batch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

from batchline.batching.options import RequestOptions, check_custom_id
from batchline.batching.providers.base import (
    LineEncoder,
    Message,
)
from batchline.batching.schema_rules.google import as_echoed_number, looks_numeric
from batchline.errors import InvalidRequestError

#: What Vertex accepts as a label value; a custom id that is one is also sent as a label.
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_CAMEL = re.compile(r"_([a-z])")

#: OpenAI-style roles -> Gemini content roles; system prompts go to ``systemInstruction``.
_CONTENT_ROLES = {"user": "user", "assistant": "model", "model": "model"}
_SYSTEM_ROLES = frozenset({"system", "developer"})
#: ``RequestOptions.extra`` keys that belong beside ``generationConfig``, not inside it.
_REQUEST_FIELDS = frozenset({"safetySettings", "tools", "toolConfig", "cachedContent"})
#: OpenAI spellings users bring along, renamed to Gemini's.
_GENERATION_ALIASES = {"stop": "stopSequences"}


#: Request fields batchline sets itself on a Gemini request (Vertex and the Developer API
#: alike): an ``extra`` naming one would replace the conversation or the schema.
GEMINI_RESERVED_EXTRA: frozenset[str] = frozenset(
    {"contents", "system_instruction", "systemInstruction", "response_schema",
     "responseSchema", "response_mime_type", "responseMimeType"}
)  # fmt: skip


def build_encoder(
    schema: dict[str, Any],
    options: RequestOptions,
    custom_id_pattern: re.Pattern[str],
    *,
    labels: bool = True,
) -> LineEncoder:
    """Everything but the id and the conversation is encoded once here; each line is then a
    join of constant byte fragments and one ``orjson.dumps`` of the converted contents.

    ``labels=False`` writes the Gemini Developer API's line: its ``GenerateContentRequest`` has
    no ``labels`` (and its ``key`` comes back as sent), so the id travels in ``key`` alone.
    """
    generation: dict[str, Any] = {
        "responseMimeType": "application/json",
        "responseSchema": schema,
        "maxOutputTokens": options.max_tokens,
    }
    if options.temperature is not None:
        generation["temperature"] = options.temperature
    request_extra: dict[str, Any] = {}
    user_labels: dict[str, Any] = {}
    for raw_key, value in options.extra.items():
        key = _GENERATION_ALIASES.get(raw_key) or _CAMEL.sub(lambda m: m.group(1).upper(), raw_key)
        if key == "labels":
            if not labels:
                raise InvalidRequestError(
                    "the Gemini Developer API has no request labels: remove 'labels' from the "
                    "extra options"
                )
            user_labels = dict(value)
        elif key in _REQUEST_FIELDS:
            request_extra[key] = value
        else:
            generation[key] = value
    dumps = orjson.dumps
    tail = b',"generationConfig":' + dumps(generation)
    for key, value in request_extra.items():
        tail += b"," + dumps(key) + b":" + dumps(value)
    user_pairs = dumps(user_labels)[1:-1]
    labelled = tail + b',"labels":{' + user_pairs + (b"," if user_labels else b"") + b'"custom_id":'
    unlabelled = tail + (b',"labels":' + dumps(user_labels) if user_labels else b"") + b"}}"
    system_open = b',"systemInstruction":{"parts":'
    label_ok = LABEL_VALUE.match if labels else (lambda _: None)
    checked = check_key_survives if labels else (lambda _: None)

    def encode(custom_id: str, messages: Sequence[Message]) -> bytes:
        check_custom_id(custom_id, custom_id_pattern)
        contents, system = convert_messages(messages)
        key = dumps(custom_id)
        pieces = [b'{"key":', key, b',"request":{"contents":', dumps(contents)]
        if system is not None:
            pieces += (system_open, dumps(system), b"}")
        if label_ok(custom_id):
            pieces += (labelled, key, b"}}}")
        else:
            checked(custom_id)
            pieces.append(unlabelled)
        return b"".join(pieces)

    return encode


def check_key_survives(custom_id: str) -> None:
    """Refuse an id Vertex would hand back changed: a numeric-looking ``key`` is echoed as a
    number ("007" as 7), so such an id must travel as a label too (label-safe ids do, and
    the label is what ``line_custom_id`` reads first), or read back the same as a number."""
    if looks_numeric(custom_id) and str(as_echoed_number(custom_id)) != custom_id:
        raise InvalidRequestError(
            f"custom_id {custom_id!r} would come back from Vertex as the number"
            f" {as_echoed_number(custom_id)!r}; use an id that is not a number, or one of"
            " lowercase letters, digits, '_' and '-' (up to 63 characters)"
        )


def convert_messages(
    messages: Sequence[Message],
) -> tuple[list[dict[str, Any]], list[dict[str, str]] | None]:
    """OpenAI-style messages -> Gemini ``contents`` and ``systemInstruction`` parts: system
    (and developer) messages are gathered in order, ``assistant`` becomes ``model``."""
    contents: list[dict[str, Any]] = []
    system: list[dict[str, str]] | None = None
    roles = _CONTENT_ROLES
    try:
        for message in messages:
            content = message["content"]
            parts = [{"text": content}] if type(content) is str else _content_parts(content)
            role = message["role"]
            mapped = roles.get(role)
            if mapped is not None:
                contents.append({"role": mapped, "parts": parts})
            elif role in _SYSTEM_ROLES:
                system = parts if system is None else system + parts
            else:
                raise InvalidRequestError(
                    f"message role {role!r} is not supported by Gemini: use system, user or "
                    "assistant"
                )
    except (KeyError, TypeError) as exc:
        raise InvalidRequestError(
            f"each message needs a 'role' and a text 'content' ({type(exc).__name__}: {exc})"
        ) from None
    if not contents:
        raise InvalidRequestError("a Gemini request needs at least one user message")
    return contents, system


def _content_parts(content: Any) -> list[dict[str, str]]:
    """OpenAI content-part lists (``[{"type": "text", "text": ...}]``); text only, for now."""
    if not isinstance(content, list | tuple) or not content:
        raise InvalidRequestError(
            f"message content must be a string or a list of text parts, got {content!r:.80}"
        )
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append({"text": part})
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append({"text": part["text"]})
        else:
            raise InvalidRequestError(f"only text content parts are supported, got {part!r:.80}")
    return parts
