"""Anthropic's rules for a tool's ``input_schema`` and for ``output_config.format``.

Sources (read 2026-12-02):
- https://platform.claude.com/docs/en/build-with-claude/structured-outputs ("JSON Schema
  limitations", as quoted in BerriAI/litellm#35811, 2026-08-04): ``additionalProperties`` must
  be ``false`` on every object; not supported: recursive schemas, numerical constraints
  (``minimum``, ``maximum``, ``multipleOf``, exclusive bounds), string length constraints,
  ``minItems`` other than 0 or 1, ``maxItems``; external ``$ref``s. Limits across a request's
  strict schemas: 24 optional parameters and 16 parameters that use ``anyOf`` or type arrays.
- The 400s as users quote them: ax-llm/ax#458 ("output_format.schema: For 'object' type,
  'additionalProperties' must be explicitly set to false"; the parameter is now
  ``output_config.format``), BerriAI/litellm#35808 ("For 'object' type, 'additionalProperties:
  true' is not supported. Please set 'additionalProperties' to false"), agentjido/req_llm#155
  ("tools.0.custom.input_schema: JSON schema is invalid. It must match JSON Schema draft 2020-12
  ..."). Messages for the other rules are batchline's own words in the same shape.
- https://docs.claude.com/en/docs/agents-and-tools/tool-use/implement-tool-use : a tool's
  ``input_schema`` is a JSON Schema object whose root ``type`` is ``object``.
"""

from __future__ import annotations

from typing import Any

from batchline.batching.schema_rules.core import (
    Violation,
    is_object,
    recursive_refs,
    resolve_ref,
    walk,
)

#: JSON Schema's type names (draft 2020-12).
TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
#: Keywords ``output_config.format`` does not support.
UNSUPPORTED_KEYWORDS = frozenset(
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
     "maxLength", "maxItems"}
)  # fmt: skip
#: Most optional properties, and most properties typed as a union, in one request's schemas.
MAX_OPTIONAL = 24
MAX_UNIONS = 16

_DRAFT_MESSAGE = (
    "JSON schema is invalid. It must match JSON Schema draft 2020-12"
    " (https://json-schema.org/draft/2020-12). Learn more about tool use at"
    " https://docs.claude.com/en/docs/tool-use."
)


def check_input_schema(schema: Any, index: int = 0) -> list[Violation]:
    """What the API refuses in tool ``index``'s ``input_schema``: a root that is not an object,
    or a schema that is not valid JSON Schema (wrong types, malformed keywords)."""
    where = f"tools.{index}.custom.input_schema"
    if not isinstance(schema, dict):
        return [Violation((), "json-schema", f"{where}: Input should be a valid dictionary")]
    found: list[Violation] = []
    if schema.get("type") != "object":
        found.append(Violation(("type",), "root-object", f"{where}.type: Input should be 'object'"))
    for path, node in walk(schema):
        if _malformed(node):
            found.append(Violation(path, "json-schema", f"{where}: {_DRAFT_MESSAGE}"))
            break
    return found


def _malformed(node: dict[str, Any]) -> bool:
    """Whether the node breaks draft 2020-12's metaschema in a way a model's schema can."""
    kinds = node.get("type")
    kind_list = kinds if isinstance(kinds, list) else [kinds]
    if any(kind is not None and kind not in TYPES for kind in kind_list):
        return True
    required = node.get("required")
    if required is not None and not (
        isinstance(required, list) and all(isinstance(name, str) for name in required)
    ):
        return True
    if "properties" in node and not isinstance(node["properties"], dict):
        return True
    extra = node.get("additionalProperties")
    return extra is not None and not isinstance(extra, bool | dict)


def check_output_format(schema: Any) -> list[Violation]:
    """What ``output_config.format``'s json_schema refuses, as the API words it."""
    where = "output_config.format.schema"
    if not isinstance(schema, dict):
        return [Violation((), "json-schema", f"{where}: Input should be a valid dictionary")]
    found: list[Violation] = []
    optional = unions = 0
    for path, node in walk(schema):
        if is_object(node):
            extra = node.get("additionalProperties")
            if extra is True:
                message = (
                    f"{where}: For 'object' type, 'additionalProperties: true' is not supported."
                    " Please set 'additionalProperties' to false"
                )
                found.append(Violation(path, "additional-properties-false", message))
            elif extra is not False:
                message = (
                    f"{where}: For 'object' type, 'additionalProperties' must be explicitly set"
                    " to false"
                )
                found.append(Violation(path, "additional-properties-false", message))
            properties = node.get("properties")
            if isinstance(properties, dict):
                required = node.get("required") or []
                optional += sum(1 for name in properties if name not in required)
                unions += sum(1 for child in properties.values() if _is_union(child))
        for keyword in sorted(UNSUPPORTED_KEYWORDS & node.keys()):
            message = f"{where}: '{keyword}' is not supported in structured outputs"
            found.append(Violation(path, "unsupported-keyword", message))
        min_items = node.get("minItems")
        if isinstance(min_items, int) and min_items > 1:
            message = f"{where}: 'minItems' values other than 0 or 1 are not supported"
            found.append(Violation(path, "unsupported-keyword", message))
        ref = node.get("$ref")
        if isinstance(ref, str) and resolve_ref(ref, schema) is None:
            message = f"{where}: '$ref' must point inside the schema ('{ref}')"
            found.append(Violation(path, "external-ref", message))
    for path, ref in recursive_refs(schema):
        message = f"{where}: recursive schemas are not supported ('{ref}')"
        found.append(Violation(path, "recursive", message))
    if optional > MAX_OPTIONAL:
        message = f"{where}: {optional} optional parameters exceed the limit of {MAX_OPTIONAL}"
        found.append(Violation((), "max-optional", message))
    if unions > MAX_UNIONS:
        message = f"{where}: {unions} union-typed parameters exceed the limit of {MAX_UNIONS}"
        found.append(Violation((), "max-unions", message))
    return found


def _is_union(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    return "anyOf" in node or isinstance(node.get("type"), list)


def check_params(params: dict[str, Any]) -> Violation | None:
    """The first schema problem in one request's params: its tools' input schemas, then
    ``output_config.format`` when it asks for a json_schema."""
    for index, tool in enumerate(params.get("tools") or []):
        if isinstance(tool, dict) and "input_schema" in tool:
            found = check_input_schema(tool["input_schema"], index)
            if found:
                return found[0]
    output_config = params.get("output_config")
    answer_format = output_config.get("format") if isinstance(output_config, dict) else None
    if isinstance(answer_format, dict) and answer_format.get("type") == "json_schema":
        found = check_output_format(answer_format.get("schema"))
        if found:
            return found[0]
    return None
