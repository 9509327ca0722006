"""What the real OpenAI API accepts, the sandbox accepts too: nameless uploads, the Files list,
``/v1/responses`` batches, a schema asked for in the prompt; and it fails lines with the real
validation codes. Driven through the official SDK and read through its typed models.
"""

from __future__ import annotations

import io
import json
from typing import Any

import openai
import pytest
from openai.types import FileObject
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from pydantic import BaseModel, ConfigDict

from batchline.sandbox import Sandbox
from tests.sandbox.test_openai_sandbox import (
    PERSON,
    chat_body,
    client_for,
    read_lines,
    request_line,
    run,
    wait,
)

RESPONSES = "/v1/responses"


class Person(BaseModel):
    """``PERSON`` as a model: an answer that validates is one the schema allows."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    age: int


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def responses_line(custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": RESPONSES, "body": body}


def responses_body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "input": "Who is in this note?", **extra}


def run_responses(client: openai.OpenAI, lines: list[dict[str, Any]]) -> Any:
    uploaded = client.files.create(file=("batch.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint=RESPONSES, completion_window="24h"
    )
    return wait(client, batch)[-1]


def only_response(client: openai.OpenAI, body: dict[str, Any]) -> Response:
    batch = run_responses(client, [responses_line("only", body)])
    assert batch.status == "completed" and batch.endpoint == RESPONSES
    (line,) = read_lines(client, batch.output_file_id)
    return Response.model_validate(line["response"]["body"])


# -- uploads --------------------------------------------------------------------------------------
def test_nameless_bytesio_upload_is_stored_under_the_sdks_name(sandbox: Sandbox) -> None:
    client = client_for(sandbox)

    uploaded = client.files.create(file=io.BytesIO(jsonl([request_line("a")])), purpose="batch")

    assert uploaded.filename == "upload" and uploaded.status == "processed"
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert wait(client, batch)[-1].status == "completed"


def test_jsonl_content_under_another_name_is_accepted(sandbox: Sandbox) -> None:
    client = client_for(sandbox)

    uploaded = client.files.create(
        file=("requests.txt", jsonl([request_line("a")])), purpose="batch"
    )

    assert uploaded.filename == "requests.txt"


@pytest.mark.parametrize("name", ["notes.txt", "upload"])
def test_content_that_is_not_jsonl_is_refused_whatever_its_name(
    sandbox: Sandbox, name: str
) -> None:
    client = client_for(sandbox)

    with pytest.raises(openai.BadRequestError, match=r"Must be \.jsonl"):
        client.files.create(file=(name, b"hello, this is plain text\n"), purpose="batch")


# -- the Files list -------------------------------------------------------------------------------
def test_files_list_pages_newest_first_and_filters_by_purpose(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    uploads = [
        client.files.create(file=(f"in-{n}.jsonl", jsonl([request_line("a")])), purpose="batch")
        for n in range(3)
    ]
    batch = run(client, [request_line("a")])

    first = client.files.list(limit=2, purpose="batch")
    rest = client.files.list(limit=2, purpose="batch", after=first.data[-1].id)
    outputs = client.files.list(purpose="batch_output")

    assert all(isinstance(f, FileObject) for f in first.data)
    listed = [f.id for f in [*first.data, *rest.data]]
    assert listed[1:4] == [u.id for u in reversed(uploads)]  # the batch's own input is newest
    assert first.has_more is True
    # The sandbox is shared by the tests of a process: earlier tests' outputs are listed too.
    assert outputs.data[0].id == batch.output_file_id
    assert {f.purpose for f in outputs.data} == {"batch_output"}


def test_files_list_refuses_a_limit_out_of_range(sandbox: Sandbox) -> None:
    client = client_for(sandbox)

    with pytest.raises(openai.BadRequestError, match="limit"):
        client.files.list(limit=0)


# -- the real validation codes --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "code", "param"),
    [
        (request_line("a", url="/v1/embeddings"), "invalid_url", "url"),
        (request_line("a", {"messages": []}), "missing_required_parameter", "body.model"),
        (
            {"method": "POST", "url": "/v1/chat/completions"},
            "missing_required_parameter",
            "custom_id",
        ),
    ],
    ids=["url", "model", "custom-id"],
)
def test_invalid_lines_fail_with_the_real_apis_codes(
    sandbox: Sandbox, line: dict[str, Any], code: str, param: str
) -> None:
    client = client_for(sandbox)

    batch = run(client, [line])

    assert batch.status == "failed" and batch.errors is not None and batch.errors.data
    assert (batch.errors.data[0].code, batch.errors.data[0].param) == (code, param)


def test_a_second_model_fails_as_mismatched_model(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    lines = [request_line("a"), request_line("b", {**chat_body(), "model": "gpt-4o"})]

    batch = run(client, lines)

    assert batch.errors is not None and batch.errors.data[0].code == "mismatched_model"


# -- /v1/responses --------------------------------------------------------------------------------
def test_responses_batch_answers_with_response_objects(sandbox: Sandbox) -> None:
    client = client_for(sandbox)

    answer = only_response(client, responses_body())

    assert answer.status == "completed" and answer.output_text
    assert answer.usage is not None and answer.usage.input_tokens > 0


def test_responses_text_format_gives_schema_valid_json(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    text = {"format": {"type": "json_schema", "name": "person", "strict": True, "schema": PERSON}}

    answer = only_response(client, responses_body(text=text))

    Person.model_validate_json(answer.output_text)


def test_responses_forced_function_gives_a_function_call_item(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    tool = {"type": "function", "name": "record_person", "parameters": PERSON, "strict": True}
    body = responses_body(tools=[tool], tool_choice={"type": "function", "name": "record_person"})

    answer = only_response(client, body)

    (call,) = answer.output
    assert call.type == "function_call" and call.name == "record_person"
    Person.model_validate_json(call.arguments)


def test_responses_line_with_response_format_fails_as_the_real_api_says(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    body = responses_body(response_format={"type": "json_object"})

    batch = run_responses(client, [responses_line("only", body)])

    (line,) = read_lines(client, batch.error_file_id)
    assert line["response"]["status_code"] == 400
    assert line["response"]["body"]["error"]["code"] == "unsupported_parameter"
    assert "has moved to 'text.format'" in line["response"]["body"]["error"]["message"]


def test_embeddings_endpoint_is_still_refused(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    uploaded = client.files.create(file=("b.jsonl", jsonl([request_line("a")])), purpose="batch")

    with pytest.raises(openai.BadRequestError, match="endpoint"):
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h"
        )


# -- a schema asked for in the prompt -------------------------------------------------------------
def prompt_with_schema(schema: dict[str, Any]) -> str:
    return "Reply with only a JSON object that matches this JSON Schema:\n" + json.dumps(schema)


def test_chat_prompt_with_a_schema_and_a_json_ask_gets_schema_valid_json(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    messages = [
        {"role": "system", "content": prompt_with_schema(PERSON)},
        {"role": "user", "content": "Who is in this note?"},
    ]

    batch = run(client, [request_line("only", {"model": "gpt-4o-mini", "messages": messages})])

    (line,) = read_lines(client, batch.output_file_id)
    content = ChatCompletion.model_validate(line["response"]["body"]).choices[0].message.content
    assert content is not None
    Person.model_validate_json(content)


def test_responses_instructions_with_a_schema_get_schema_valid_json(sandbox: Sandbox) -> None:
    client = client_for(sandbox)

    answer = only_response(client, responses_body(instructions=prompt_with_schema(PERSON)))

    Person.model_validate_json(answer.output_text)


def test_prompt_that_shows_json_but_asks_for_nothing_gets_plain_text(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    body = chat_body(content='Summarise this record: {"name": "Ada", "type": "person"}')

    batch = run(client, [request_line("only", body)])

    (line,) = read_lines(client, batch.output_file_id)
    assert (
        line["response"]["body"]["choices"][0]["message"]["content"] == "Sandbox answer for only."
    )
