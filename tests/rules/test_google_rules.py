"""Gemini on Vertex: ``responseSchema`` rules fail a request line with Gemini's 400 in its
``status``; batch-import rules fail the whole job ("Failed to import data"). Both are refused
by batchline before upload. Also: ids survive Vertex echoing numeric-looking keys as numbers.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from google.genai.types import JobState
from pydantic import BaseModel

from batchline.batching import BatchProcessor, BatchSuccess
from batchline.batching.schema_rules.google import check_import, check_response_schema
from batchline.errors import InvalidRequestError, SchemaRuleError
from batchline.sandbox import Faults, Sandbox
from tests.conftest import TEST_COMPLETION_DELAY
from tests.providers.models import Address, Profile, User
from tests.rules import models
from tests.sandbox.test_google_sandbox import PERSON_SCHEMA, Vertex, request_line

MODEL = "google/gemini-2.5-flash"
AT = "* GenerateContentRequest.generation_config.response_schema"


def with_property(extra: dict[str, Any]) -> dict[str, Any]:
    return {**PERSON_SCHEMA, "properties": {**PERSON_SCHEMA["properties"], "extra": extra}}


LINE_REFUSALS = [
    pytest.param(
        with_property({"type": "OBJECT"}),
        f'{AT}.properties["extra"].properties: should be non-empty for OBJECT type',
        id="object-without-properties",
    ),
    pytest.param(
        with_property({"type": "STRING", "properties": {"a": {"type": "STRING"}}}),
        f'{AT}.properties["extra"].properties: only allowed for OBJECT type',
        id="properties-on-a-string",
    ),
    pytest.param(
        with_property({"type": "ARRAY"}),
        f'{AT}.properties["extra"].items: missing field.',
        id="array-without-items",
    ),
    pytest.param(
        with_property({"type": "INTEGER", "enum": [1, 2]}),
        f'{AT}.properties["extra"].enum: only allowed for STRING type',
        id="enum-on-an-integer",
    ),
    pytest.param(
        {**PERSON_SCHEMA, "required": ["name", "nickname"]},
        f"{AT}.required[1]: property is not defined",
        id="required-not-defined",
    ),
    pytest.param(
        with_property({"type": "STRING", "const": "x"}),
        'Invalid JSON payload received. Unknown name "const" at'
        " 'generation_config.response_schema.properties[\"extra\"]': Cannot find field.",
        id="unknown-field",
    ),
    pytest.param(
        with_property({"type": "string"}),
        f"{AT}.properties[\"extra\"].type: invalid value 'string'; expected one of ARRAY,"
        " BOOLEAN, INTEGER, NULL, NUMBER, OBJECT, STRING",
        id="lower-case-type",
    ),
]


@pytest.mark.parametrize(("schema", "message"), LINE_REFUSALS)
def test_sandbox_fails_the_line_with_geminis_400(
    vertex: Vertex, schema: dict[str, Any], message: str
) -> None:
    job = vertex.wait(vertex.submit([request_line("bad", schema), request_line("good")]).name)

    assert job.state == JobState.JOB_STATE_SUCCEEDED
    lines = {line["key"]: line for line in vertex.predictions(job)}
    assert "response" in lines["good"] and not lines["good"]["status"]
    status = lines["bad"]["status"]
    assert status.startswith("Bad Request: ")
    error = json.loads(status.removeprefix("Bad Request: "))["error"]
    assert error == {"code": 400, "message": message + "\n", "status": "INVALID_ARGUMENT"}
    assert "response" not in lines["bad"]


def deep_schema(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "OBJECT", "properties": {"v": {"type": "STRING"}}}
    for _ in range(levels - 1):
        schema = {"type": "OBJECT", "properties": {"c": schema}}
    return schema


IMPORT_REFUSALS = [
    pytest.param(
        deep_schema(8),
        "Failed to import data. The request nests 20 objects deep; the import reads at most 15.",
        id="nested-too-deep",
    ),
    pytest.param(
        {**PERSON_SCHEMA, "properties": {"$id": {"type": "STRING"}}, "required": []},
        "Failed to import data. The key '$id' holds '$', which the import refuses.",
        id="dollar-key",
    ),
    pytest.param(
        {**PERSON_SCHEMA, "properties": {"first name": {"type": "STRING"}}, "required": []},
        "Failed to import data. The key 'first name' holds a space.",
        id="key-with-a-space",
    ),
    pytest.param(
        with_property({"type": "ARRAY", "items": {}}),
        "Failed to import data. An empty object ({}) cannot be imported.",
        id="empty-object",
    ),
]


@pytest.mark.parametrize(("schema", "message"), IMPORT_REFUSALS)
@pytest.mark.parametrize("position", ["first", "later"])
def test_sandbox_fails_the_whole_job_it_cannot_import(
    vertex: Vertex, schema: dict[str, Any], message: str, position: str
) -> None:
    lines = [request_line("bad", schema), request_line("good")]
    if position == "later":
        lines.reverse()
    job = vertex.wait(vertex.submit(lines).name)

    assert job.state == JobState.JOB_STATE_FAILED
    assert job.error is not None and job.error.code == 3 and job.error.message == message


def test_sandbox_imports_and_answers_an_ordinary_schema(vertex: Vertex) -> None:
    job = vertex.wait(vertex.submit([request_line("good", deep_schema(5))]).name)
    assert job.state == JobState.JOB_STATE_SUCCEEDED


@pytest.mark.parametrize(
    ("response_model", "field", "rule"),
    [
        (models.Scores, "scores", "object-properties"),
        (models.Ticket, "priority", "enum-string"),
        (models.nested(6), "(root)", "import-depth"),
        (models.DollarKey, "$id", "import-dollar-key"),
        (models.SpacedKey, "first name", "import-blank-key"),
        (models.Anything, "items", "import-empty-object"),
    ],
)
def test_batchline_refuses_the_model_before_upload(
    sandbox: Sandbox, response_model: type[BaseModel], field: str, rule: str
) -> None:
    processor = BatchProcessor(MODEL, response_model)
    before = {info.id for info in processor.list_batches(limit=100)}

    expected = f"field '{field}' breaks Gemini's schema rule '{rule}'"
    with pytest.raises(SchemaRuleError, match=re.escape(expected)):
        processor.create_batch_from_messages([[{"role": "user", "content": "hi"}]])

    assert {info.id for info in processor.list_batches(limit=100)} == before


def test_a_dict_field_is_refused_with_advice() -> None:
    processor = BatchProcessor(MODEL, models.Scores)
    with pytest.raises(
        SchemaRuleError, match=r"should be non-empty for OBJECT type \(fix: .*list\[Entry\]"
    ):
        processor.create_batch_from_messages([[{"role": "user", "content": "hi"}]])


@pytest.mark.parametrize("response_model", [User, Address, Profile, models.nested(5)])
def test_ordinary_models_pass_and_run(sandbox: Sandbox, response_model: type[BaseModel]) -> None:
    processor = BatchProcessor(MODEL, response_model)
    buffer = processor.create_batch_from_messages([[{"role": "user", "content": "hi"}]])
    batch_id = processor.submit_batch(buffer)

    deadline = time.monotonic() + 20
    while processor.get_batch_status(batch_id)["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (result,) = processor.retrieve_results(batch_id)
    assert isinstance(result, BatchSuccess), result


def test_the_rule_books_find_nothing_in_the_sandboxs_own_example() -> None:
    assert check_response_schema(PERSON_SCHEMA) == []
    assert check_import(request_line("k")) == []


# -- custom ids and Vertex's number coercion -----------------------------------------------------
def test_numeric_looking_ids_come_back_as_sent(sandbox: Sandbox, vertex: Vertex) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, numeric_keys=True)
    processor = BatchProcessor(MODEL, User)
    ids = ["007", "000000", "42", "1e3", "-5", "x1"]
    conversation = [{"role": "user", "content": "Alice is 30"}]
    buffer = processor.create_batch_from_messages([conversation] * len(ids), custom_ids=ids)
    batch_id = processor.submit_batch(buffer)
    deadline = time.monotonic() + 20
    while processor.get_batch_status(batch_id)["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)

    raw_keys = {line.get("key") for line in _raw_predictions(vertex, batch_id)}
    results = processor.retrieve_results(batch_id)

    assert {7, 0, 42, 1000, -5, "x1"} <= raw_keys  # the fault did coerce them
    assert sorted(result.custom_id for result in results) == sorted(ids)
    assert all(isinstance(result, BatchSuccess) for result in results)


def _raw_predictions(vertex: Vertex, batch_id: str) -> list[dict[str, Any]]:
    job = vertex.client.batches.get(name=batch_id)
    return vertex.predictions(job)


@pytest.mark.parametrize("custom_id", ["1.50", "+5", "1E5", "0.0"])
def test_ids_vertex_would_change_are_refused_up_front(custom_id: str) -> None:
    processor = BatchProcessor(MODEL, User)
    with pytest.raises(
        InvalidRequestError, match=re.escape(f"custom_id '{custom_id}' would come back")
    ):
        processor.create_batch_from_messages(
            [[{"role": "user", "content": "hi"}]], custom_ids=[custom_id]
        )
