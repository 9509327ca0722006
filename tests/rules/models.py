"""Response models that break one provider rule each, built the way users write them."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model


class Leaf(BaseModel):
    value: int


def nested(levels: int) -> type[BaseModel]:
    """A model whose answer nests ``levels`` objects deep (Leaf is the innermost)."""
    model: type[BaseModel] = Leaf
    for level in range(levels - 1):
        model = create_model(f"Level{level}", child=(model, ...))
    return model


class OpenNote(BaseModel):
    """Extra keys allowed: the schema says ``additionalProperties: true``."""

    model_config = ConfigDict(extra="allow")
    text: str


class WithOpenNote(BaseModel):
    note: OpenNote


class Scores(BaseModel):
    scores: dict[str, int]


class Tags(BaseModel):
    tags: set[str]


class Numbers(RootModel[list[int]]):
    pass


class Node(BaseModel):
    name: str
    children: list[Node]


class Priority(IntEnum):
    LOW = 1
    HIGH = 2


class Ticket(BaseModel):
    priority: Priority


class DollarKey(BaseModel):
    ident: str = Field(alias="$id")


class SpacedKey(BaseModel):
    first_name: str = Field(alias="first name")


class Anything(BaseModel):
    items: list[Any]


class BadType(BaseModel):
    value: str = Field(json_schema_extra={"type": "str"})


def many_optional(count: int) -> type[BaseModel]:
    fields: dict[str, Any] = {f"f{i}": (int | None, None) for i in range(count)}
    return create_model("ManyOptional", **fields)


def many_unions(count: int) -> type[BaseModel]:
    fields: dict[str, Any] = {f"u{i}": (int | str, ...) for i in range(count)}
    return create_model("ManyUnions", **fields)
