"""OpenAI's rules for strict structured outputs: ``response_format`` json_schema with
``strict: true``, and function tools with ``strict: true``.

Sources (read 2026-12-02):
- https://platform.openai.com/docs/guides/structured-outputs#supported-schemas : the root is an
  object (not ``anyOf``); every object sets ``additionalProperties: false`` and lists every
  property in ``required``; the supported types; the keywords strict mode does not support;
  the limits (5,000 object properties, 10 levels of nesting, 1,000 enum values, 120,000
  characters of names and enum values). Earlier versions of the page said 100 properties and
  5 levels (community.openai.com/t/918388, 2024-08).
- The wording of the 400s, as users quote the real API: vercel/ai#6484 and moeru-ai/xsai#202
  ("Invalid schema for response_format 'X': In context=('properties', 'etymology'),
  'additionalProperties' is required to be supplied and to be false."), tidyverse/ellmer#671
  ("6 levels of nesting exceeds limit of 5."). The ``required`` message follows the same
  pattern as users report it; no capture of it was found, so treat its tail as approximate.
  The limit messages (properties, enum values, characters) are batchline's own words.
"""

from __future__ import annotations

from typing import Any

from batchline.batching.schema_rules.core import (
    SchemaPath,
    Violation,
    is_object,
    object_depth,
    walk,
)

#: JSON types strict mode accepts.
TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
#: Keywords strict mode refuses wherever they appear ("... is not permitted").
UNSUPPORTED_KEYWORDS = frozenset(
    {
        "not", "if", "then", "else", "dependentRequired", "dependentSchemas",
        "patternProperties", "unevaluatedProperties", "unevaluatedItems", "propertyNames",
        "minProperties", "maxProperties", "contains", "minContains", "maxContains",
        "uniqueItems",
    }
)  # fmt: skip
#: Most object properties a schema may hold, all objects together.
MAX_PROPERTIES = 5000
#: Most levels of object nesting.
MAX_DEPTH = 10
#: Most enum values, all enums together.
MAX_ENUM_VALUES = 1000
#: Most characters of property names, definition names, enum and const values together.
MAX_STRING_CHARS = 120_000


def check_strict(schema: Any, name: str, *, function: bool = False) -> list[Violation]:
    """Everything OpenAI's strict mode refuses in ``schema``, named as its 400 names it.

    ``name`` is the response format's (or function's) name, which the real message quotes.
    """
    where = f"function '{name}'" if function else f"response_format '{name}'"
    prefix = f"Invalid schema for {where}: "
    if not isinstance(schema, dict):
        return [Violation((), "root-object", f"{prefix}schema must be a JSON Schema object.")]
    found: list[Violation] = []
    root_kind = schema.get("type")
    if root_kind != "object" or "anyOf" in schema:
        got = "anyOf" if "anyOf" in schema else root_kind
        message = f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{got}\"'."
        found.append(Violation((), "root-object", prefix + message))
    properties = enum_values = chars = 0
    for path, node in walk(schema):
        found += _node_violations(path, node, prefix)
        if isinstance(node.get("properties"), dict):
            properties += len(node["properties"])
            chars += sum(len(key) for key in node["properties"])
        for key in ("$defs", "definitions"):
            if isinstance(node.get(key), dict):
                chars += sum(len(key) for key in node[key])
        if isinstance(node.get("enum"), list):
            enum_values += len(node["enum"])
            chars += sum(len(str(value)) for value in node["enum"])
        if "const" in node:
            chars += len(str(node["const"]))
    depth = object_depth(schema)
    if depth > MAX_DEPTH:
        message = f"{depth} levels of nesting exceeds limit of {MAX_DEPTH}."
        found.append(Violation((), "max-depth", prefix + message))
    for rule, count, limit, what in (
        ("max-properties", properties, MAX_PROPERTIES, "object properties"),
        ("max-enum-values", enum_values, MAX_ENUM_VALUES, "enum values"),
        ("max-string-chars", chars, MAX_STRING_CHARS, "characters of names and enum values"),
    ):
        if count > limit:
            message = f"the schema has {count:,} {what}, over the limit of {limit:,}."
            found.append(Violation((), rule, prefix + message))
    return found


def _node_violations(path: SchemaPath, node: dict[str, Any], prefix: str) -> list[Violation]:
    context = f"In context={tuple(str(part) for part in path)!r}, "
    found: list[Violation] = []
    kinds = node.get("type")
    for kind in kinds if isinstance(kinds, list) else [kinds]:
        if kind is not None and kind not in TYPES:
            message = f"{context}type '{kind}' is not supported."
            found.append(Violation(path, "type", prefix + message))
    for keyword in sorted(UNSUPPORTED_KEYWORDS & node.keys()):
        message = f"{context}'{keyword}' is not permitted."
        found.append(Violation(path, "unsupported-keyword", prefix + message))
    if not is_object(node):
        return found
    if node.get("additionalProperties") is not False:
        message = f"{context}'additionalProperties' is required to be supplied and to be false."
        found.append(Violation(path, "additional-properties-false", prefix + message))
    properties = node.get("properties")
    keys = list(properties) if isinstance(properties, dict) else []
    required = node.get("required")
    listed = required if isinstance(required, list) else []
    missing = [key for key in keys if key not in listed]
    if missing or (not isinstance(required, list) and keys):
        message = (
            f"{context}'required' is required to be supplied and to be an array including every"
            f" key in properties. Missing '{missing[0] if missing else keys[0]}'."
        )
        found.append(Violation(path, "all-required", prefix + message))
    extra = [key for key in listed if key not in keys]
    if extra:
        message = f"{context}Extra required key '{extra[0]}' supplied."
        found.append(Violation(path, "all-required", prefix + message))
    return found


def check_body(body: dict[str, Any]) -> tuple[str, Violation] | None:
    """The first strict-mode violation in a request body, with the parameter it sits in.

    Only schemas marked ``strict: true`` are judged, as OpenAI judges them; a non-strict schema
    is accepted whatever it holds.
    """
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        if isinstance(spec, dict) and spec.get("strict") is True:
            found = check_strict(spec.get("schema"), str(spec.get("name", "")))
            if found:
                return "response_format", found[0]
    for index, tool in enumerate(body.get("tools") or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and function.get("strict") is True:
            name = str(function.get("name", ""))
            found = check_strict(function.get("parameters"), name, function=True)
            if found:
                return f"tools[{index}].function.parameters", found[0]
    return None
