"""The response model: plain Pydantic, importable by the workers without Django's models."""

from pydantic import BaseModel


class Contact(BaseModel):
    name: str
    age: int
