"""Gemini on Vertex AI: the ``responseSchema`` subset, and what Vertex's batch import refuses.

Two kinds of rule, failing two different ways:

- ``responseSchema`` rules are the request's: a line that breaks them fails on its own, with
  the 400 Gemini answers online (``status`` of that prediction line).
- Import rules are the batch job's: Vertex loads the whole JSONL before it runs anything, and
  one line it cannot load fails the job with "Failed to import data".

Sources (read 2026-12-02):
- The Schema message, "a select subset of an OpenAPI 3.0 schema object":
  https://cloud.google.com/vertex-ai/docs/reference/rest/v1beta1/Schema and the generated
  references (https://googleapis.github.io/js-genai/release_docs/interfaces/types.Schema.html):
  its fields, and ``Type`` (STRING, NUMBER, INTEGER, BOOLEAN, ARRAY, OBJECT, NULL).
- The 400 wording, as users quote the real API: browser-use/browser-use#3786 and
  pydantic/pydantic-ai#1203 ("* GenerateContentRequest.generation_config.response_schema
  .properties[\\"action\\"].items.any_of[3].properties[\\"go_back\\"].properties: should be
  non-empty for OBJECT type"), anomalyco/opencode#11889 ("properties: only allowed for OBJECT
  type"), googleapis/python-aiplatform#4333 ('Invalid JSON payload received. Unknown name
  "type_" at \\'generation_config.response_schema\\''). "items: missing field", "enum: only
  allowed for STRING type" and "property is not defined" follow the same shape.
- Import: googleapis/python-aiplatform#4110 ("Job failed: code: 3 message: Failed to import
  data. ..."); Vertex reads batch input through BigQuery's loader, whose limits apply: at most
  15 levels of nested records (https://cloud.google.com/bigquery/docs/nested-repeated), no
  empty records, and field names without ``$`` or spaces (issue 15's audit of failed jobs).
- Keys: a numeric-looking ``key`` comes back as a number ("000000" becomes 0), per a live
  capture in OpenRouter's Vertex notes (issue 15).
"""

from __future__ import annotations

import re
from typing import Any

from batchline.batching.schema_rules.core import SchemaPath, Violation

#: Fields of Vertex's ``Schema`` message, as its JSON mapping spells them.
SCHEMA_FIELDS = frozenset(
    {
        "type", "format", "title", "description", "nullable", "default", "items", "minItems",
        "maxItems", "enum", "properties", "propertyOrdering", "required", "minProperties",
        "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf", "minimum",
        "maximum", "additionalProperties", "ref", "defs",
        # Protobuf's JSON parser accepts the proto names too.
        "min_items", "max_items", "property_ordering", "min_properties", "max_properties",
        "min_length", "max_length", "any_of", "additional_properties",
    }
)  # fmt: skip
TYPES = frozenset({"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"})
#: Where Gemini's messages place the schema of a batch request.
SCHEMA_AT = "GenerateContentRequest.generation_config.response_schema"
#: Most levels of nested objects a request line may have for the batch import.
MAX_IMPORT_DEPTH = 15
#: The object level a line's ``responseSchema`` sits at: line, request, generationConfig, schema.
SCHEMA_DEPTH_IN_LINE = 4
#: What the import would read as a number: "007", "-1.5", "1e3", ".5".
_NUMERIC = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_BLANK = re.compile(r"\s")


def check_response_schema(schema: Any) -> list[Violation]:
    """What Gemini refuses in a ``responseSchema``, each as its 400 words it."""
    found: list[Violation] = []
    _check(schema, (), "", found)
    return found


def _check(node: Any, path: SchemaPath, where: str, found: list[Violation]) -> None:
    at = SCHEMA_AT + where
    if not isinstance(node, dict):
        found.append(Violation(path, "schema-object", f"* {at}: should be a Schema object"))
        return
    for key in node:
        if key not in SCHEMA_FIELDS:
            message = (
                f'Invalid JSON payload received. Unknown name "{key}" at'
                f" '{at.removeprefix('GenerateContentRequest.')}': Cannot find field."
            )
            found.append(Violation((*path, key), "unknown-field", message))
    kind = node.get("type")
    if kind is not None and kind not in TYPES:
        message = f"* {at}.type: invalid value {kind!r}; expected one of {', '.join(sorted(TYPES))}"
        found.append(Violation((*path, "type"), "type", message))
    properties = node.get("properties")
    if kind == "OBJECT" and not (isinstance(properties, dict) and properties):
        message = f"* {at}.properties: should be non-empty for OBJECT type"
        found.append(Violation(path, "object-properties", message))
    for key in ("properties", "required"):
        if key in node and kind not in ("OBJECT", None):
            message = f"* {at}.{key}: only allowed for OBJECT type"
            found.append(Violation(path, "object-only", message))
    if kind == "ARRAY" and "items" not in node:
        found.append(Violation(path, "array-items", f"* {at}.items: missing field."))
    if "enum" in node and kind not in ("STRING", None):
        found.append(Violation(path, "enum-string", f"* {at}.enum: only allowed for STRING type"))
    names = properties if isinstance(properties, dict) else {}
    for index, name in enumerate(node.get("required") or []):
        if name not in names:
            message = f"* {at}.required[{index}]: property is not defined"
            found.append(Violation(path, "required-defined", message))
    for name, child in names.items():
        _check(child, (*path, "properties", name), f'{where}.properties["{name}"]', found)
    if "items" in node:
        _check(node["items"], (*path, "items"), f"{where}.items", found)
    for index, child in enumerate(node.get("anyOf") or []):
        _check(child, (*path, "anyOf", index), f"{where}.any_of[{index}]", found)


def check_import(line: Any, path: SchemaPath = (), depth: int = 1) -> list[Violation]:
    """What Vertex's batch import refuses anywhere in one request line (or in a part of one,
    which sits at object level ``depth``): nesting past the limit, ``$`` or blank characters in
    keys, empty objects."""
    found: list[Violation] = []
    deepest = _import_walk(line, path, depth, found)
    if deepest > MAX_IMPORT_DEPTH:
        message = (
            f"Failed to import data. The request nests {deepest} objects deep; the import reads"
            f" at most {MAX_IMPORT_DEPTH}."
        )
        found.append(Violation(path, "import-depth", message))
    return found


def _import_walk(value: Any, path: SchemaPath, depth: int, found: list[Violation]) -> int:
    """The deepest object level under ``value`` (which sits at ``depth`` if it is an object)."""
    if isinstance(value, list):
        return max(
            (_import_walk(item, (*path, index), depth, found) for index, item in enumerate(value)),
            default=depth - 1,
        )
    if not isinstance(value, dict):
        return depth - 1
    if not value:
        message = "Failed to import data. An empty object ({}) cannot be imported."
        found.append(Violation(path, "import-empty-object", message))
    deepest = depth
    for key, child in value.items():
        if "$" in key:
            message = f"Failed to import data. The key {key!r} holds '$', which the import refuses."
            found.append(Violation((*path, key), "import-dollar-key", message))
        if _BLANK.search(key):
            message = f"Failed to import data. The key {key!r} holds a space."
            found.append(Violation((*path, key), "import-blank-key", message))
        deepest = max(deepest, _import_walk(child, (*path, key), depth + 1, found))
    return deepest


def looks_numeric(key: str) -> bool:
    """Whether Vertex would echo this ``key`` as a number (and so lose its spelling)."""
    return _NUMERIC.fullmatch(key) is not None


def as_echoed_number(key: str) -> int | float:
    """The number Vertex writes back for a numeric-looking key."""
    number = float(key)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number
