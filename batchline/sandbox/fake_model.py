"""The fake model: what a request asks it for, what it answers, and the tokens it counts.

Answers are deterministic per ``custom_id`` and valid for the schema the request asked for,
so code under test gets the same parsed objects every run.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

#: A scripted answer source: a mapping from custom_id to answer, or a callable
#: ``(custom_id, request) -> answer``. Returning ``None`` from the callable (or a missing key)
#: falls back to the generated answer.
Responder = Mapping[str, Any] | Callable[[str, dict[str, Any]], Any]

#: What reading a request the sandbox does not understand can raise. A real API refuses such a
#: request on its own line, so the apps turn these into per-request errors, not a crash.
UNREADABLE_REQUEST = (AttributeError, KeyError, TypeError, ValueError)


@dataclass
class Ask:
    """What a request asks the model for: JSON for a schema, or a forced tool call."""

    schema: dict[str, Any] | None = None
    tool: str | None = None
    #: Whether the tool was forced by name (not as "the only tool"); OpenAI ends such a call
    #: with ``finish_reason: "stop"``, the other kind with ``"tool_calls"``.
    tool_named: bool = False


class FakeModel:
    """Answers each request with a value valid for the schema it asked for, deterministic per id.

    ``schema`` is a JSON Schema (OpenAI/Anthropic) or an OpenAPI-subset schema (Gemini's
    ``responseSchema``: ``nullable``, upper-case ``type``); both are understood.
    """

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder = responder

    def answer(self, custom_id: str, schema: dict[str, Any] | None, request: dict[str, Any]) -> Any:
        scripted = self._scripted(custom_id, request)
        if scripted is not None:
            return scripted
        rng = random.Random(custom_id)
        if not schema:
            return f"Sandbox answer for {custom_id}."
        return _generate(schema, schema, rng, depth=0)

    def _scripted(self, custom_id: str, request: dict[str, Any]) -> Any:
        if self.responder is None:
            return None
        if callable(self.responder):
            return self.responder(custom_id, request)
        return self.responder.get(custom_id)

    @staticmethod
    def count_tokens(text: str) -> int:
        """A plausible token count: about four characters a token."""
        return max(1, len(text) // 4)


def block_texts(contents: Iterable[Any]) -> list[str]:
    """The text of chat contents, each a string or a list of blocks (``{"text": ...}`` parts)."""
    texts: list[str] = []
    for content in contents:
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(b["text"] for b in content if isinstance(b, dict) and "text" in b)
    return texts


def prompt_tokens(
    texts: list[str], schema: dict[str, Any] | None, messages: int, per_message: int
) -> int:
    """Plausible prompt size: the text, the schema, and ``per_message`` tokens of framing for
    each message and once more for the reply (3 on OpenAI, 4 on Anthropic)."""
    if schema:
        texts = [*texts, orjson.dumps(schema).decode()]
    return FakeModel.count_tokens("".join(texts)) + per_message * messages + per_message


#: The shortest prompt the sandbox's stand-in cache takes (OpenAI's and Gemini 2.5 Flash's
#: minimum; Anthropic's is 1,024 to 4,096 tokens by model, simplified here).
CACHE_MIN_TOKENS = 1024
#: Cached prefixes are counted in whole blocks of this many tokens (OpenAI's increment).
CACHE_BLOCK_TOKENS = 128


def cached_tokens(prefix_texts: list[str], prompt: int) -> int:
    """The sandbox's prompt cache: how many of a prompt's ``prompt`` tokens were cache hits.

    Every request is answered as if an earlier one with the same leading text (its system
    prompt, or on Anthropic the blocks up to the last ``cache_control``) had warmed the cache,
    so the count depends on the request alone and is the same every run: that prefix, in
    whole 128-token blocks, once the prompt reaches 1,024 tokens. Shorter prompts never hit.
    """
    if prompt < CACHE_MIN_TOKENS or not prefix_texts:
        return 0
    prefix = FakeModel.count_tokens("".join(prefix_texts))
    return min(prompt, prefix // CACHE_BLOCK_TOKENS * CACHE_BLOCK_TOKENS)


def schema_asked_in(texts: Iterable[str]) -> dict[str, Any] | None:
    """The JSON Schema a prompt carries, if it also asks for JSON; else None.

    Clients without a native structured-output call (batchata and steadybatch on Anthropic)
    write the schema into the system prompt and ask for JSON; a real model answers with the
    JSON, so the fake one does too. A schema is the first JSON object in the text that has
    ``properties`` or a ``type``; the text must say "JSON" somewhere.
    """
    decoder = json.JSONDecoder()
    for text in texts:
        if "json" not in text.lower():
            continue
        start = text.find("{")
        while start >= 0:
            try:
                found, _ = decoder.raw_decode(text, start)
            except ValueError:
                found = None
            if isinstance(found, dict) and ("properties" in found or "type" in found):
                return found
            start = text.find("{", start + 1)
    return None


# -- answers generated from a schema -------------------------------------------------------------

_WORDS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")


def resolve_ref(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The schema node ``node`` stands for, following ``$ref`` pointers within ``root``."""
    while "$ref" in node:
        path = node["$ref"].lstrip("#/").split("/")
        target: Any = root
        for part in path:
            target = target[part]
        node = target
    return node


def _generate(node: dict[str, Any], root: dict[str, Any], rng: random.Random, depth: int) -> Any:
    node = resolve_ref(node, root)
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return rng.choice([v for v in node["enum"] if v is not None] or node["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            options = [o for o in node[key] if _type_of(resolve_ref(o, root)) != "null"]
            return _generate((options or node[key])[0], root, rng, depth)
    kind = _type_of(node)
    if kind == "object" or "properties" in node:
        props: dict[str, Any] = node.get("properties", {})
        return {name: _generate(sub, root, rng, depth + 1) for name, sub in props.items()}
    if kind == "array":
        low = int(node.get("minItems", 1))
        high = max(low, min(int(node.get("maxItems", 3)), 3))
        count = 0 if depth > 6 else rng.randint(low, high)
        return [_generate(node.get("items", {}), root, rng, depth + 1) for _ in range(count)]
    if kind == "integer":
        low, high = int(node.get("minimum", 1)), int(node.get("maximum", 99))
        return rng.randint(low, high)
    if kind == "number":
        bottom, top = float(node.get("minimum", 0.0)), float(node.get("maximum", 100.0))
        return round(rng.uniform(bottom, top), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return rng.choice(_WORDS).title()


def _type_of(node: dict[str, Any]) -> str:
    kind = node.get("type", "")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    return str(kind).lower()
