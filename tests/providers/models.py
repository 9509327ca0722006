"""Response models the tests parse into: flat, and nested with optional, list and enum fields."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class User(BaseModel):
    name: str
    age: int


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    GUEST = "guest"


class Address(BaseModel):
    street: str
    city: str
    postcode: str | None = None


class Profile(BaseModel):
    """Everything a strict schema finds hard: nesting, optionals, lists, enums, defaults."""

    name: str
    role: Role
    addresses: list[Address]
    primary: Address | None = None
    tags: list[str] = Field(default_factory=list)
    score: float = Field(ge=0, le=100)
    active: bool = True
