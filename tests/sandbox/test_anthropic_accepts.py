"""A JSON Schema asked for in the prompt, with no tool and no ``output_config``, is answered
with JSON that follows it, as a real model does (batchata's and steadybatch's way)."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from batchline.sandbox import Sandbox
from tests.sandbox.test_anthropic_sandbox import PERSON, client_for, only_message, params


class Person(BaseModel):
    """``PERSON`` as a model: an answer that validates is one the schema allows."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    age: int


def schema_system() -> str:
    return "Reply with only a JSON object that matches this JSON Schema:\n" + json.dumps(PERSON)


def test_system_prompt_with_a_schema_gets_schema_valid_json_text(sandbox: Sandbox) -> None:
    client = client_for(sandbox)

    message = only_message(client, params(system=schema_system()))

    (block,) = message.content
    assert block.type == "text" and message.stop_reason == "end_turn"
    Person.model_validate_json(block.text)


def test_system_blocks_with_a_schema_get_schema_valid_json_text(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    system = [{"type": "text", "text": schema_system()}]

    message = only_message(client, params(system=system))

    (block,) = message.content
    assert block.type == "text"
    Person.model_validate_json(block.text)


def test_system_prompt_without_a_json_ask_gets_plain_text(sandbox: Sandbox) -> None:
    client = client_for(sandbox)

    message = only_message(client, params(system='You read records like {"type": "note"}.'))

    (block,) = message.content
    assert block.type == "text" and block.text == "Sandbox answer for only."
