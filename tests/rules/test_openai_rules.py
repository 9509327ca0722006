"""OpenAI strict structured outputs: what the real API refuses, the sandbox and batchline refuse.

Each rule is shown twice: a request line carrying the offending schema fails in the sandbox's
error file with OpenAI's 400 (through the official SDK), and a response model that breaks the
rule is refused by batchline when it builds the requests, before anything is uploaded.
"""

from __future__ import annotations

import io
import json
import re
import time
from enum import StrEnum
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from batchline.batching import BatchProcessor
from batchline.batching.schema_rules.openai import check_strict
from batchline.errors import SchemaRuleError
from batchline.sandbox import Sandbox
from tests.providers.models import Address, Profile, User
from tests.rules import models

CLOSED = {"additionalProperties": False}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    **CLOSED,
}


def with_property(extra: dict[str, Any], name: str = "extra") -> dict[str, Any]:
    """PERSON with one more (required) property."""
    return {
        **PERSON,
        "properties": {**PERSON["properties"], name: extra},
        "required": [*PERSON["required"], name],
    }


def deep(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {}, "required": [], **CLOSED}
    for _ in range(levels - 1):
        schema = {"type": "object", "properties": {"c": schema}, "required": ["c"], **CLOSED}
    return schema


def run_one(sb: Sandbox, body: dict[str, Any]) -> tuple[openai.types.Batch, dict[str, Any]]:
    """Run a one-request batch through the SDK; return the batch and its only result line."""
    client = openai.OpenAI(base_url=sb.openai_base_url, api_key="sk-test")
    line = {"custom_id": "only", "method": "POST", "url": "/v1/chat/completions", "body": body}
    upload = client.files.create(
        file=("rules.jsonl", io.BytesIO(json.dumps(line).encode() + b"\n")), purpose="batch"
    )
    batch = client.batches.create(
        input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    deadline = time.monotonic() + 20
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        assert time.monotonic() < deadline, batch
        time.sleep(0.05)
        batch = client.batches.retrieve(batch.id)
    file_id = batch.error_file_id or batch.output_file_id
    assert file_id is not None
    (result,) = [json.loads(raw) for raw in client.files.content(file_id).text.splitlines()]
    return batch, result


def schema_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Who is Alice?"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "person", "strict": True, "schema": schema},
        },
    }


REFUSED = [
    pytest.param(
        {**PERSON, "required": ["name"]},
        "Invalid schema for response_format 'person': In context=(), 'required' is required to"
        " be supplied and to be an array including every key in properties. Missing 'age'.",
        id="optional-field-missing-from-required",
    ),
    pytest.param(
        with_property(
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
        ),
        "Invalid schema for response_format 'person': In context=('properties', 'extra'),"
        " 'additionalProperties' is required to be supplied and to be false.",
        id="nested-object-not-closed",
    ),
    pytest.param(
        with_property({"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
        "Invalid schema for response_format 'person': In context=('properties', 'extra'),"
        " 'uniqueItems' is not permitted.",
        id="unsupported-keyword",
    ),
    pytest.param(
        {"type": "array", "items": {"type": "string"}},
        "Invalid schema for response_format 'person': schema must be a JSON Schema of"
        " 'type: \"object\"', got 'type: \"array\"'.",
        id="root-not-an-object",
    ),
    pytest.param(
        with_property({"type": "date"}),
        "Invalid schema for response_format 'person': In context=('properties', 'extra'),"
        " type 'date' is not supported.",
        id="unknown-type",
    ),
    pytest.param(
        deep(11),
        "Invalid schema for response_format 'person': 11 levels of nesting exceeds limit of 10.",
        id="nesting-depth",
    ),
    pytest.param(
        with_property({"type": "string", "enum": [f"v{i}" for i in range(1001)]}),
        "Invalid schema for response_format 'person': the schema has 1,001 enum values, over"
        " the limit of 1,000.",
        id="enum-values",
    ),
    pytest.param(
        with_property({"type": "string", "enum": [f"{i:03d}" + "x" * 118 for i in range(999)]}),
        "Invalid schema for response_format 'person': the schema has 120,891 characters of"
        " names and enum values, over the limit of 120,000.",
        id="string-budget",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {f"p{i}": {"type": "integer"} for i in range(5001)},
            "required": [f"p{i}" for i in range(5001)],
            **CLOSED,
        },
        "Invalid schema for response_format 'person': the schema has 5,001 object properties,"
        " over the limit of 5,000.",
        id="property-count",
    ),
]


@pytest.mark.parametrize(("schema", "message"), REFUSED)
def test_sandbox_fails_the_request_with_openais_400(
    sandbox: Sandbox, schema: dict[str, Any], message: str
) -> None:
    batch, result = run_one(sandbox, schema_body(schema))

    assert batch.status == "completed"
    assert batch.request_counts is not None and batch.request_counts.failed == 1
    assert result["response"]["status_code"] == 400
    error = result["response"]["body"]["error"]
    assert error == {
        "message": message,
        "type": "invalid_request_error",
        "param": "response_format",
        "code": None,
    }


def test_sandbox_judges_strict_function_tools_too(sandbox: Sandbox) -> None:
    tool = {
        "type": "function",
        "function": {"name": "record", "strict": True, "parameters": {**PERSON, "required": []}},
    }
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Who is Alice?"}],
        "tools": [tool],
        "tool_choice": {"type": "function", "function": {"name": "record"}},
    }
    _, result = run_one(sandbox, body)

    error = result["response"]["body"]["error"]
    assert error["message"].startswith("Invalid schema for function 'record': In context=(),")
    assert error["param"] == "tools[0].function.parameters"


def test_sandbox_accepts_a_non_strict_schema_whatever_it_holds(sandbox: Sandbox) -> None:
    body = schema_body({"type": "object", "properties": {"name": {"type": "string"}}})
    body["response_format"]["json_schema"]["strict"] = False

    _, result = run_one(sandbox, body)

    assert result["response"]["status_code"] == 200


BIG_ENUM = StrEnum("BigEnum", {f"V{i}": f"v{i}" for i in range(1001)})  # type: ignore[misc]


class Palette(BaseModel):
    colour: BIG_ENUM  # type: ignore[valid-type]


@pytest.mark.parametrize(
    ("response_model", "field", "rule"),
    [
        (models.WithOpenNote, "OpenNote", "additional-properties-false"),
        (models.Scores, "scores", "additional-properties-false"),
        (models.Tags, "tags", "unsupported-keyword"),
        (models.Numbers, "(root)", "root-object"),
        (models.nested(11), "(root)", "max-depth"),
        (Palette, "(root)", "max-enum-values"),
    ],
)
@pytest.mark.parametrize("output_mode", ["json_schema", "tools"])
def test_batchline_refuses_the_model_before_upload(
    sandbox: Sandbox, response_model: type[BaseModel], field: str, rule: str, output_mode: str
) -> None:
    processor = BatchProcessor("openai/gpt-4o-mini", response_model, output_mode=output_mode)
    before = {info.id for info in processor.list_batches(limit=100)}

    with pytest.raises(
        SchemaRuleError, match=re.escape(f"field '{field}' breaks OpenAI's schema rule '{rule}'")
    ):
        processor.create_batch_from_messages([[{"role": "user", "content": "hi"}]])

    assert {info.id for info in processor.list_batches(limit=100)} == before


@pytest.mark.parametrize("response_model", [User, Address, Profile, models.nested(10)])
def test_ordinary_models_pass_strict_mode(response_model: type[BaseModel]) -> None:
    processor = BatchProcessor("openai/gpt-4o-mini", response_model)
    line = json.loads(
        processor.create_batch_from_messages([[{"role": "user", "content": "hi"}]]).getvalue()
    )  # type: ignore[union-attr]

    schema = line["body"]["response_format"]["json_schema"]["schema"]
    assert check_strict(schema, "x") == []
    assert set(schema["required"]) == set(schema["properties"])
