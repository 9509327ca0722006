"""What every provider's rule book shares: a violation, and a walk over a JSON schema's nodes.

The rule books are pure functions from a schema to a list of ``Violation``; the sandbox turns
them into the provider's own error, and batchline turns them into ``SchemaRuleError`` before
anything is uploaded. Keeping the walk here means all three read a schema the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: A place inside a schema, as the keys and indexes that lead to it from the root.
SchemaPath = tuple[str | int, ...]

#: Keywords whose value maps names to subschemas.
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
#: Keywords whose value is a list of subschemas.
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
#: Keywords whose value is one subschema (when it is an object, not a boolean).
_SCHEMA_ONES = ("items", "additionalProperties", "not", "contains", "if", "then", "else")


@dataclass(frozen=True, slots=True)
class Violation:
    """One way a schema breaks a provider's rules.

    ``message`` is the provider's own wording where it is known (quoted from real errors), so
    the sandbox can answer with it verbatim; ``rule`` is a short stable name for tests and docs.
    """

    path: SchemaPath
    rule: str
    message: str

    @property
    def field(self) -> str:
        """The response-model field the violation sits in (``address.street``), or ``(root)``."""
        return field_name(self.path)


def walk(schema: Any, path: SchemaPath = ()) -> Iterator[tuple[SchemaPath, dict[str, Any]]]:
    """Every subschema (the root first) with its path; booleans and non-schemas are skipped."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for key in _SCHEMA_MAPS:
        children = schema.get(key)
        if isinstance(children, dict):
            for name, child in children.items():
                yield from walk(child, (*path, key, name))
    for key in _SCHEMA_LISTS:
        children = schema.get(key)
        if isinstance(children, list):
            for index, child in enumerate(children):
                yield from walk(child, (*path, key, index))
    for key in _SCHEMA_ONES:
        yield from walk(schema.get(key), (*path, key))


def is_object(node: dict[str, Any]) -> bool:
    """Whether the node describes a JSON object (``type`` may be a list with ``"null"``)."""
    kind = node.get("type")
    if isinstance(kind, list):
        return "object" in kind
    return kind == "object" or (kind is None and "properties" in node)


def field_name(path: SchemaPath) -> str:
    """The dotted field names along a path: ``properties.a.items.properties.b`` is ``a.b``."""
    names = [
        str(path[index + 1])
        for index, key in enumerate(path[:-1])
        if key in ("properties", "$defs", "definitions")
    ]
    return ".".join(names) or "(root)"


def resolve_ref(ref: str, root: dict[str, Any]) -> dict[str, Any] | None:
    """The local target of ``#/...``; ``None`` for anything else or a dangling pointer."""
    if not ref.startswith("#"):
        return None
    target: Any = root
    for part in ref[1:].split("/")[1:]:
        if not isinstance(target, dict) or part not in target:
            return None
        target = target[part]
    return target if isinstance(target, dict) else None


def object_depth(schema: dict[str, Any], root: dict[str, Any] | None = None) -> int:
    """How many objects deep the schema nests, following local ``$ref``s (a cycle stops the
    count, since a recursive schema is judged by its own rule)."""
    root = schema if root is None else root

    def depth(node: Any, seen: frozenset[str]) -> int:
        if not isinstance(node, dict):
            return 0
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = resolve_ref(ref, root)
            if target is None or ref in seen:
                return 0
            return depth(target, seen | {ref})
        inner = 0
        for key in ("properties", "patternProperties"):
            children = node.get(key)
            if isinstance(children, dict):
                inner = max([inner, *(depth(child, seen) for child in children.values())])
        for key in ("anyOf", "allOf", "oneOf", "prefixItems"):
            children = node.get(key)
            if isinstance(children, list):
                inner = max([inner, *(depth(child, seen) for child in children)])
        for key in ("items", "additionalProperties"):
            inner = max(inner, depth(node.get(key), seen))
        return inner + (1 if is_object(node) else 0)

    return depth(schema, frozenset())


def recursive_refs(schema: dict[str, Any]) -> list[tuple[SchemaPath, str]]:
    """The ``$ref``s that lead back to a schema they sit in (the model refers to itself)."""
    found: list[tuple[SchemaPath, str]] = []

    def visit(node: Any, path: SchemaPath, open_refs: frozenset[str]) -> None:
        for sub_path, sub in walk(node, path):
            ref = sub.get("$ref")
            if not isinstance(ref, str):
                continue
            if ref in open_refs:
                found.append((sub_path, ref))
                continue
            target = resolve_ref(ref, schema)
            if target is not None:
                visit(target, sub_path, open_refs | {ref})

    visit({k: v for k, v in schema.items() if k not in ("$defs", "definitions")}, (), frozenset())
    # Definitions that refer to themselves are recursive even when the root does not use them.
    for key in ("$defs", "definitions"):
        defs = schema.get(key)
        if isinstance(defs, dict):
            for name, target in defs.items():
                visit(target, (key, name), frozenset({f"#/{key}/{name}"}))
    unique: dict[str, tuple[SchemaPath, str]] = {}
    for path, ref in found:
        unique.setdefault(ref, (path, ref))
    return list(unique.values())
