"""One codec between batchline's record dataclasses and Redis hashes (and JSON).

Records (``Job``, ``Shard``) hold typed values: enums, ``CallbackSpec``s, floats, optional
values. A Redis hash holds strings only, so the conversion happens here, once, by one loop
over the dataclass's fields driven by their type hints; no record spells out its own fields.

Encoding in a hash field:

* ``str`` (and ``str`` enums) as themselves; ``None`` as ``""``;
* ``bool`` as ``"1"`` or ``""``; ``int`` and ``float`` by ``repr``;
* anything else (dicts, lists, nested dataclasses) as compact JSON of its plain form.

A field missing from the hash (a record written by an older version) takes its default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar

import orjson

R = TypeVar("R")


def encode(record: Any) -> dict[str, str]:
    """Every field of the dataclass ``record`` as a Redis hash field."""
    return {
        field.name: encode_value(getattr(record, field.name)) for field in _fields(type(record))
    }


def decode(cls: type[R], data: Mapping[str, str]) -> R:
    """The ``cls`` record a Redis hash holds (fields absent from it take their defaults)."""
    hints = _hints(cls)
    values = {
        field.name: decode_value(hints[field.name], data[field.name])
        for field in _fields(cls)
        if field.name in data
    }
    return cls(**values)


def encode_value(value: Any) -> str:
    """One value as the string a Redis hash field holds."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, int | float):
        return repr(value)
    return orjson.dumps(plain(value)).decode()


def decode_value(hint: Any, text: str) -> Any:
    """The typed value a hash field holds, for a field annotated ``hint``."""
    inner, optional = _unwrap_optional(hint)
    if optional and text == "":
        return None
    if inner is str or inner is Any:
        return text
    if inner is bool:
        return bool(text)
    if inner is int:
        return int(text or 0)
    if inner is float:
        return float(text or 0.0)
    if isinstance(inner, type) and issubclass(inner, Enum):
        return inner(text)
    return from_plain(inner, orjson.loads(text) if text else None)


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses as dicts, enums as their values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name)) for field in _fields(type(value))}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    return value


def from_plain(hint: Any, data: Any) -> Any:
    """The inverse of ``plain`` for a value annotated ``hint`` (``None`` becomes empty)."""
    inner, optional = _unwrap_optional(hint)
    if data is None:
        return None if optional else _empty(inner)
    origin = typing.get_origin(inner)
    args = typing.get_args(inner)
    if origin is list:
        return [from_plain(args[0], item) for item in data]
    if origin is dict:
        return {key: from_plain(args[1], item) for key, item in data.items()}
    if isinstance(inner, type) and dataclasses.is_dataclass(inner):
        hints = _hints(inner)
        return inner(
            **{
                field.name: from_plain(hints[field.name], data[field.name])
                for field in _fields(inner)
                if field.name in data
            }
        )
    if isinstance(inner, type) and issubclass(inner, Enum):
        return inner(data)
    return data


def _empty(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        return []
    if origin is dict:
        return {}
    return None


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(hint, False)``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


#: Per record class, its fields and their resolved type hints (looked up once per class).
_FIELDS: dict[type[Any], tuple[dataclasses.Field[Any], ...]] = {}
_HINTS: dict[type[Any], dict[str, Any]] = {}


def _fields(cls: type[Any]) -> tuple[dataclasses.Field[Any], ...]:
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = dataclasses.fields(cls)
    return found


def _hints(cls: type[Any]) -> dict[str, Any]:
    found = _HINTS.get(cls)
    if found is None:
        # The records use ``from __future__ import annotations``: their hints are strings
        # until resolved against their module.
        found = _HINTS[cls] = typing.get_type_hints(cls)
    return found
