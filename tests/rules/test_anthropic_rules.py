"""Anthropic tool ``input_schema`` and ``output_config.format``: what the real API refuses, the
sandbox answers as an ``errored`` result (through the official SDK) and batchline refuses
before upload. Also: the ``{"requests":[...]}`` envelope counts against the size limit."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import anthropic
import pytest
from pydantic import BaseModel

from batchline.batching import BatchProcessor
from batchline.batching.providers import ProviderLimits
from batchline.batching.providers.anthropic import ENVELOPE_BYTES, AnthropicProvider, request_body
from batchline.batching.requests import measure
from batchline.batching.schema_rules.anthropic import check_input_schema, check_output_format
from batchline.errors import LimitExceededError, SchemaRuleError
from batchline.sandbox import Sandbox
from batchline.sandbox import anthropic as anthropic_app
from batchline.workers.submission import shard_limits
from tests.providers.models import Address, Profile, User
from tests.rules import models
from tests.sandbox.test_anthropic_sandbox import client_for, params, results, run

CLOSED = {"additionalProperties": False}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def tool_request(schema: dict[str, Any]) -> dict[str, Any]:
    tool = {"name": "record", "input_schema": schema}
    return params(tools=[tool], tool_choice={"type": "tool", "name": "record"})


def format_request(schema: dict[str, Any]) -> dict[str, Any]:
    return params(output_config={"format": {"type": "json_schema", "schema": schema}})


def errored_message(sb: Sandbox, request_params: dict[str, Any]) -> str:
    """Run a one-request batch; the request must have errored: return the API's message."""
    client = client_for(sb)
    batch = run(client, [{"custom_id": "only", "params": request_params}])
    (line,) = results(client, batch.id)
    assert line.result.type == "errored", line.result
    assert line.result.error.error.type == "invalid_request_error"
    return line.result.error.error.message


REFUSED = [
    pytest.param(
        tool_request({"type": "array", "items": {"type": "string"}}),
        "tools.0.custom.input_schema.type: Input should be 'object'",
        id="tool-root-not-an-object",
    ),
    pytest.param(
        tool_request({**PERSON, "properties": {"name": {"type": "str"}}}),
        "tools.0.custom.input_schema: JSON schema is invalid. It must match JSON Schema draft"
        " 2020-12 (https://json-schema.org/draft/2020-12). Learn more about tool use at"
        " https://docs.claude.com/en/docs/tool-use.",
        id="tool-schema-not-json-schema",
    ),
    pytest.param(
        format_request(PERSON),
        "output_config.format.schema: For 'object' type, 'additionalProperties' must be"
        " explicitly set to false",
        id="format-object-not-closed",
    ),
    pytest.param(
        format_request({**PERSON, "additionalProperties": True}),
        "output_config.format.schema: For 'object' type, 'additionalProperties: true' is not"
        " supported. Please set 'additionalProperties' to false",
        id="format-object-open",
    ),
    pytest.param(
        format_request(
            {
                **PERSON,
                **CLOSED,
                "properties": {
                    "name": {"type": "string"},
                    "age": {"type": "integer", "minimum": 0},
                },
            }
        ),
        "output_config.format.schema: 'minimum' is not supported in structured outputs",
        id="format-numeric-constraint",
    ),
    pytest.param(
        format_request(
            {
                **PERSON,
                **CLOSED,
                "properties": {
                    "name": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                    "age": {"type": "integer"},
                },
            }
        ),
        "output_config.format.schema: 'minItems' values other than 0 or 1 are not supported",
        id="format-min-items",
    ),
    pytest.param(
        format_request(
            {
                "$defs": {
                    "Node": {
                        "type": "object",
                        "properties": {
                            "kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
                        },
                        "required": ["kids"],
                        **CLOSED,
                    }
                },
                "$ref": "#/$defs/Node",
            }
        ),
        "output_config.format.schema: recursive schemas are not supported ('#/$defs/Node')",
        id="format-recursive",
    ),
    pytest.param(
        format_request(
            {**PERSON, **CLOSED, "properties": {"name": {"$ref": "https://example.com/name.json"}}}
        ),
        "output_config.format.schema: '$ref' must point inside the schema"
        " ('https://example.com/name.json')",
        id="format-external-ref",
    ),
    pytest.param(
        format_request(
            {
                "type": "object",
                "properties": {f"o{i}": {"type": "integer"} for i in range(25)},
                **CLOSED,
            }
        ),
        "output_config.format.schema: 25 optional parameters exceed the limit of 24",
        id="format-optional-count",
    ),
    pytest.param(
        format_request(
            {
                "type": "object",
                "properties": {f"u{i}": {"type": ["integer", "string"]} for i in range(17)},
                "required": [f"u{i}" for i in range(17)],
                **CLOSED,
            }
        ),
        "output_config.format.schema: 17 union-typed parameters exceed the limit of 16",
        id="format-union-count",
    ),
]


@pytest.mark.parametrize(("request_params", "message"), REFUSED)
def test_sandbox_errors_the_request_with_anthropics_message(
    sandbox: Sandbox, request_params: dict[str, Any], message: str
) -> None:
    assert errored_message(sandbox, request_params) == message


def test_sandbox_still_answers_a_closed_output_format(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    batch = run(client, [{"custom_id": "only", "params": format_request({**PERSON, **CLOSED})}])
    (line,) = results(client, batch.id)
    assert line.result.type == "succeeded"


@pytest.mark.parametrize(
    ("response_model", "output_mode", "field", "rule"),
    [
        (models.Numbers, "tools", "(root)", "root-object"),
        (models.BadType, "tools", "value", "json-schema"),
        (models.Node, "json_schema", "children", "recursive"),
        (models.many_optional(25), "json_schema", "(root)", "max-optional"),
        (models.many_unions(17), "json_schema", "(root)", "max-unions"),
    ],
)
def test_batchline_refuses_the_model_before_upload(
    sandbox: Sandbox, response_model: type[BaseModel], output_mode: str, field: str, rule: str
) -> None:
    processor = BatchProcessor(
        "anthropic/claude-haiku-4-5", response_model, output_mode=output_mode
    )
    before = {info.id for info in processor.list_batches(limit=100)}

    expected = f"field '{field}' breaks Anthropic's schema rule '{rule}'"
    with pytest.raises(SchemaRuleError, match=re.escape(expected)):
        processor.create_batch_from_messages([[{"role": "user", "content": "hi"}]])

    assert {info.id for info in processor.list_batches(limit=100)} == before


@pytest.mark.parametrize(
    "response_model", [User, Address, Profile, models.Scores, models.nested(12)]
)
@pytest.mark.parametrize("output_mode", ["tools", "json_schema"])
def test_ordinary_models_pass_both_output_modes(
    sandbox: Sandbox, response_model: type[BaseModel], output_mode: str
) -> None:
    processor = BatchProcessor(
        "anthropic/claude-haiku-4-5", response_model, output_mode=output_mode
    )
    buffer = processor.create_batch_from_messages([[{"role": "user", "content": "hi"}]])
    batch_id = processor.submit_batch(buffer)

    client = client_for(sandbox)
    batch = client.messages.batches.retrieve(batch_id)
    while batch.processing_status != "ended":
        batch = client.messages.batches.retrieve(batch_id)
    (line,) = results(client, batch_id)
    assert line.result.type == "succeeded", line.result


def test_the_rule_books_accept_the_sdks_own_output_schema() -> None:
    native = anthropic.transform_schema(Profile)
    assert check_output_format(native) == []
    assert check_input_schema(Profile.model_json_schema()) == []


def test_the_envelope_is_what_the_body_adds_to_the_measured_lines(tmp_path: Any) -> None:
    processor = BatchProcessor("anthropic/claude-haiku-4-5", User)
    path = tmp_path / "requests.jsonl"
    processor.create_batch_from_messages(
        [[{"role": "user", "content": f"hi {i}"}] for i in range(3)], str(path)
    )

    with path.open("rb") as source:
        body = request_body(source)

    assert len(body) == measure(str(path)).bytes + ENVELOPE_BYTES == measure(str(path)).bytes + 14


def test_a_file_that_fits_only_without_the_envelope_is_refused_before_upload(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor = BatchProcessor("anthropic/claude-haiku-4-5", User)
    buffer = processor.create_batch_from_messages([[{"role": "user", "content": "hi"}]] * 3)
    size = measure(buffer).bytes
    # The sandbox refuses a body over the limit with a 413, as the API does.
    monkeypatch.setattr(anthropic_app, "MAX_BODY_BYTES", size)
    limits = ProviderLimits(max_requests=100, max_bytes=size, envelope_bytes=ENVELOPE_BYTES)
    monkeypatch.setattr(AnthropicProvider, "limits", limits)
    before = {info.id for info in processor.list_batches(limit=100)}

    with pytest.raises(LimitExceededError, match="over anthropic's limit"):
        processor.submit_batch(buffer)

    assert {info.id for info in processor.list_batches(limit=100)} == before
    monkeypatch.setattr(anthropic_app, "MAX_BODY_BYTES", size + ENVELOPE_BYTES)
    monkeypatch.setattr(
        AnthropicProvider, "limits", ProviderLimits(100, size + ENVELOPE_BYTES, ENVELOPE_BYTES)
    )
    assert processor.submit_batch(buffer)


def test_shards_budget_the_lines_without_the_envelope() -> None:
    processor = BatchProcessor("anthropic/claude-haiku-4-5", User)
    settings = SimpleNamespace(max_requests_per_batch=None, max_bytes_per_batch=1000)
    runtime: Any = SimpleNamespace(settings=settings)

    limits = shard_limits(runtime, processor)

    assert limits.max_bytes == 1000 - ENVELOPE_BYTES
    assert shard_limits(runtime, BatchProcessor("openai/gpt-4o-mini", User)).max_bytes == 1000
