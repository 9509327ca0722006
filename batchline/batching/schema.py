"""JSON schemas for each provider's structured-output dialect, computed once per batch.

- OpenAI strict mode: every object lists all its properties in ``required`` and forbids extra
  ones; defaults are dropped (the model must always answer every field, optional ones as null).
- Anthropic: the plain JSON schema, as a forced tool's ``input_schema``.
- Gemini ``responseSchema``: an OpenAPI subset with no ``$ref``, no ``additionalProperties``,
  ``nullable`` instead of ``anyOf [.., null]`` and upper-case type names.

Each builder then runs the provider's rule book (``schema_rules``) on what it built, once per
job, and refuses a schema the provider would refuse with ``SchemaRuleError`` naming the field
and the rule, so a job never uploads requests that would all fail.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import anthropic
from pydantic import BaseModel

from batchline.batching.schema_rules import Violation
from batchline.batching.schema_rules import anthropic as anthropic_rules
from batchline.batching.schema_rules import google as google_rules
from batchline.batching.schema_rules import openai as openai_rules
from batchline.errors import ResponseModelError, SchemaRuleError

JsonSchema = dict[str, Any]


def model_schema(response_model: type[BaseModel]) -> JsonSchema:
    if not (isinstance(response_model, type) and issubclass(response_model, BaseModel)):
        raise ResponseModelError(
            f"response_model must be a pydantic BaseModel subclass, got {response_model!r}"
        )
    return response_model.model_json_schema()


def schema_name(response_model: type[BaseModel]) -> str:
    """A name the providers accept for a schema or tool: ``^[a-zA-Z0-9_-]{1,64}$``."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", response_model.__name__)[:64] or "response"


# -- OpenAI -----------------------------------------------------------------------------------
def openai_strict_schema(response_model: type[BaseModel]) -> JsonSchema:
    schema = model_schema(response_model)
    strict: JsonSchema = _strict(schema, root=schema)
    refuse_violations(
        "OpenAI", response_model, openai_rules.check_strict(strict, schema_name(response_model))
    )
    return strict


def _strict(node: Any, root: JsonSchema) -> Any:
    if not isinstance(node, dict):
        return node
    for defs_key in ("$defs", "definitions"):
        if isinstance(node.get(defs_key), dict):
            node[defs_key] = {k: _strict(v, root) for k, v in node[defs_key].items()}
    if node.get("type") == "object" and "additionalProperties" not in node:
        node["additionalProperties"] = False
    properties = node.get("properties")
    if isinstance(properties, dict):
        node["properties"] = {k: _strict(v, root) for k, v in properties.items()}
        node["required"] = list(properties)
    if isinstance(node.get("items"), dict):
        node["items"] = _strict(node["items"], root)
    if isinstance(node.get("anyOf"), list):
        node["anyOf"] = [_strict(v, root) for v in node["anyOf"]]
    all_of = node.get("allOf")
    if isinstance(all_of, list):
        if len(all_of) == 1:
            node.update(_strict(all_of[0], root))
            node.pop("allOf")
        else:
            node["allOf"] = [_strict(v, root) for v in all_of]
    if node.get("default", 0) is None:
        node.pop("default")
    # A $ref beside other keys is not allowed in strict mode: inline the target.
    if "$ref" in node and len(node) > 1:
        target = _resolve(node["$ref"], root)
        node.pop("$ref")
        merged = {**_strict(copy.deepcopy(target), root), **node}
        return _strict(merged, root)
    return node


def _resolve(ref: str, root: JsonSchema) -> JsonSchema:
    if not ref.startswith("#/"):
        raise ResponseModelError(f"unsupported $ref {ref!r} in response model schema")
    target: Any = root
    for part in ref[2:].split("/"):
        target = target[part]
    return dict(target)


# -- Anthropic --------------------------------------------------------------------------------
def anthropic_tool_schema(response_model: type[BaseModel]) -> JsonSchema:
    schema = model_schema(response_model)
    refuse_violations("Anthropic", response_model, anthropic_rules.check_input_schema(schema))
    return schema


def anthropic_output_schema(response_model: type[BaseModel]) -> JsonSchema:
    """``output_config.format``'s schema: the SDK's own transform (it moves the constraints the
    API refuses into descriptions and closes every object), then the rule book."""
    try:
        native: JsonSchema = anthropic.transform_schema(model_schema(response_model))
    except ValueError as exc:
        raise ResponseModelError(
            f"{response_model.__name__} cannot be expressed as an Anthropic output schema: {exc}"
        ) from exc
    refuse_violations("Anthropic", response_model, anthropic_rules.check_output_format(native))
    return native


# -- Gemini -----------------------------------------------------------------------------------
#: Keys Vertex AI's ``Schema`` message understands; anything else is dropped.
_GEMINI_KEYS = frozenset(
    {
        "type", "format", "title", "description", "nullable", "enum", "items", "maxItems",
        "minItems", "properties", "required", "minProperties", "maxProperties", "minLength",
        "maxLength", "pattern", "example", "anyOf", "propertyOrdering", "minimum", "maximum",
    }
)  # fmt: skip


def gemini_response_schema(response_model: type[BaseModel]) -> JsonSchema:
    schema = model_schema(response_model)
    converted: JsonSchema = _gemini(schema, root=schema, seen=())
    found = google_rules.check_response_schema(converted)
    found += google_rules.check_import(converted, depth=google_rules.SCHEMA_DEPTH_IN_LINE)
    refuse_violations("Gemini", response_model, found)
    return converted


# -- refusing ---------------------------------------------------------------------------------
#: What to do instead, for the rules a pydantic model most often breaks.
_ADVICE = {
    "object-properties": (
        "a dict[str, X] (or an object with no fields) has no fixed properties, which Gemini's"
        " responseSchema needs: use a list of key/value models instead, e.g. list[Entry] where"
        " Entry has key: str and value: X"
    ),
    "import-empty-object": "give the field a concrete type (list[Any] and dict fields are empty)",
    "import-depth": "flatten the model: Vertex's batch import counts two levels per nested model",
    "import-dollar-key": "rename the field or its alias so it holds no '$'",
    "import-blank-key": "rename the field or its alias so it holds no spaces",
    "recursive": "a model that contains itself cannot be a structured output here",
}


def refuse_violations(
    provider: str, response_model: type[BaseModel], violations: list[Violation]
) -> None:
    """Raise ``SchemaRuleError`` for the first violation (counting the rest), if any."""
    if not violations:
        return
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    advice = _ADVICE.get(first.rule)
    hint = f" (fix: {advice})" if advice else ""
    raise SchemaRuleError(
        f"{response_model.__name__} field {first.field!r} breaks {provider}'s schema rule"
        f" {first.rule!r}: {first.message}{hint}{more}",
        violations,
    )


def _gemini(node: Any, root: JsonSchema, seen: tuple[str, ...]) -> Any:
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise ResponseModelError(
                f"Gemini's responseSchema cannot express the recursive model at {ref!r}"
            )
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return _gemini({**_resolve(ref, root), **rest}, root, (*seen, ref))
    out: JsonSchema = {}
    if "const" in node:
        out["enum"] = [node["const"]]
    for branch_key in ("anyOf", "oneOf"):
        if isinstance(node.get(branch_key), list):
            branches = node[branch_key]
            non_null = [b for b in branches if b.get("type") != "null"]
            if len(non_null) < len(branches):
                out["nullable"] = True
            if len(non_null) == 1:
                merged = {k: v for k, v in node.items() if k != branch_key}
                inner = _gemini({**non_null[0], **merged}, root, seen)
                return {**inner, **out}
            out["anyOf"] = [_gemini(b, root, seen) for b in non_null]
    if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
        merged = {k: v for k, v in node.items() if k != "allOf"}
        return _gemini({**node["allOf"][0], **merged}, root, seen)
    for key, value in node.items():
        if key not in _GEMINI_KEYS or key in out:
            continue
        if key == "type":
            out["type"] = _gemini_type(value, out)
        elif key == "properties":
            out["properties"] = {k: _gemini(v, root, seen) for k, v in value.items()}
            out["propertyOrdering"] = list(value)
        elif key == "items":
            out["items"] = _gemini(value, root, seen)
        elif key == "anyOf":
            continue
        else:
            out[key] = value
    if out.get("type") == "OBJECT" and "properties" in out and "required" not in out:
        out["required"] = []
    return out


def _gemini_type(value: Any, out: JsonSchema) -> str:
    if isinstance(value, list):
        kinds = [v for v in value if v != "null"]
        if len(kinds) < len(value):
            out["nullable"] = True
        value = kinds[0] if kinds else "null"
    return str(value).upper()
