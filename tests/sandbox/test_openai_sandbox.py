"""The OpenAI emulation, driven only through the official ``openai`` SDK.

Every response is read through the SDK's typed models (``Batch``, ``FileObject``, ...), so a
shape the SDK cannot parse fails here before it can fail in batchline.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import openai
import pytest
from openai.types import Batch, FileDeleted, FileObject
from openai.types.chat import ChatCompletion

from batchline.sandbox import BatchOutcome, FakeModel, Faults, Sandbox
from batchline.sandbox import openai as openai_app
from tests.conftest import REAL_OUTPUTS, TEST_COMPLETION_DELAY

ENDPOINT = "/v1/chat/completions"
ENDED = ("completed", "failed", "expired", "cancelled")
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


# -- helpers --------------------------------------------------------------------------------------
def client_for(sb: Sandbox, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=sb.openai_base_url, api_key="sk-test", **options)


def chat_body(content: str = "Who is in this note?", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **extra}


def schema_body(**extra: Any) -> dict[str, Any]:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "person", "strict": True, "schema": PERSON},
    }
    return chat_body(response_format=response_format, **extra)


def tool_body(tool_choice: Any = None) -> dict[str, Any]:
    tool = {"type": "function", "function": {"name": "record_person", "parameters": PERSON}}
    choice = tool_choice or {"type": "function", "function": {"name": "record_person"}}
    return chat_body(tools=[tool], tool_choice=choice)


def request_line(custom_id: str, body: dict[str, Any] | None = None, **overrides: Any) -> dict:
    line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body or chat_body()}
    return {**line, **overrides}


def lines_for(count: int, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [request_line(f"req-{index}", body) for index in range(count)]


def upload(client: openai.OpenAI, lines: list[dict[str, Any]]) -> FileObject:
    content = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return client.files.create(file=("batch.jsonl", content), purpose="batch")


def submit(client: openai.OpenAI, lines: list[dict[str, Any]], **options: Any) -> Batch:
    uploaded = upload(client, lines)
    return client.batches.create(
        input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h", **options
    )


def wait(client: openai.OpenAI, batch: Batch, until: tuple[str, ...] = ENDED) -> list[Batch]:
    """Poll until the batch reaches one of ``until``; every state seen, newest last."""
    seen = [batch]
    deadline = time.monotonic() + 10
    while seen[-1].status not in until:
        assert time.monotonic() < deadline, f"batch stuck in {seen[-1].status}"
        time.sleep(0.02)
        seen.append(client.batches.retrieve(batch.id))
    return seen


def run(client: openai.OpenAI, lines: list[dict[str, Any]], **options: Any) -> Batch:
    return wait(client, submit(client, lines, **options))[-1]


def read_lines(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def only_answer(client: openai.OpenAI, body: dict[str, Any]) -> ChatCompletion:
    """Run a one-request batch and return its chat completion, parsed by the SDK."""
    batch = run(client, [request_line("only", body)])
    (line,) = read_lines(client, batch.output_file_id)
    return ChatCompletion.model_validate(line["response"]["body"])


# -- files ----------------------------------------------------------------------------------------
def test_uploaded_file_is_a_file_object_whose_content_reads_back(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    lines = lines_for(3)
    uploaded = upload(client, lines)

    fetched = client.files.retrieve(uploaded.id)
    content = client.files.content(uploaded.id).text

    assert isinstance(fetched, FileObject)
    assert (fetched.purpose, fetched.filename, fetched.status) == (
        "batch",
        "batch.jsonl",
        "processed",
    )
    assert fetched.bytes == len(content.encode())
    assert [json.loads(line) for line in content.splitlines()] == lines


def test_deleted_file_can_no_longer_be_fetched(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    uploaded = upload(client, lines_for(1))

    deleted = client.files.delete(uploaded.id)

    assert isinstance(deleted, FileDeleted)
    assert deleted.deleted and deleted.id == uploaded.id
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)


def test_upload_that_is_not_jsonl_is_refused(sandbox: Sandbox) -> None:
    client = client_for(sandbox)

    with pytest.raises(openai.BadRequestError, match=r"Must be \.jsonl"):
        client.files.create(file=("notes.txt", b"hello"), purpose="batch")


def test_batch_survives_deleting_its_input_file(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    batch = submit(client, lines_for(3))

    client.files.delete(batch.input_file_id)
    ended = wait(client, batch)[-1]

    assert ended.status == "completed"
    assert len(read_lines(client, ended.output_file_id)) == 3


# -- lifecycle ------------------------------------------------------------------------------------
def test_batch_goes_from_validating_through_in_progress_to_completed(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=1.0)
    client = client_for(sandbox)

    seen = wait(client, submit(client, lines_for(4)))

    statuses = [batch.status for batch in seen]
    order = ["validating", "in_progress", "finalizing", "completed"]
    assert statuses[0] == "validating" and statuses[-1] == "completed"
    assert "in_progress" in statuses
    assert [order.index(status) for status in statuses] == sorted(order.index(s) for s in statuses)
    ended = seen[-1]
    assert ended.created_at <= ended.in_progress_at <= ended.finalizing_at <= ended.completed_at
    assert ended.failed_at is None and ended.cancelled_at is None


def test_counts_are_zero_while_validating_and_grow_while_in_progress(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=1.0)
    client = client_for(sandbox)

    seen = wait(client, submit(client, lines_for(40)))

    validating = [b.request_counts for b in seen if b.status == "validating"]
    running = [b.request_counts.completed for b in seen if b.status == "in_progress"]
    assert all(counts.total == 0 for counts in validating)
    assert running == sorted(running) and running[-1] < 40
    assert seen[-1].request_counts.model_dump() == {"total": 40, "completed": 40, "failed": 0}


def test_completed_batch_reports_model_usage_and_metadata(sandbox: Sandbox) -> None:
    client = client_for(sandbox)

    batch = run(client, lines_for(5), metadata={"batchline_job": "job-1", "shard": "0"})

    assert isinstance(batch, Batch)
    assert batch.model == "gpt-4o-mini"
    assert batch.metadata == {"batchline_job": "job-1", "shard": "0"}
    assert batch.error_file_id is None and batch.errors is None
    answers = read_lines(client, batch.output_file_id)
    usages = [line["response"]["body"]["usage"] for line in answers]
    assert batch.usage is not None
    assert batch.usage.input_tokens == sum(u["prompt_tokens"] for u in usages) > 0
    assert batch.usage.output_tokens == sum(u["completion_tokens"] for u in usages) > 0
    assert batch.usage.total_tokens == batch.usage.input_tokens + batch.usage.output_tokens


def test_output_lines_have_the_keys_of_real_output_lines(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    real = json.loads((REAL_OUTPUTS / "openai_output_3.jsonl").read_text().splitlines()[0])

    (line,) = read_lines(client, run(client, lines_for(1)).output_file_id)

    def keys(value: dict[str, Any]) -> list[str]:
        return list(value)

    body, real_body = line["response"]["body"], real["response"]["body"]
    assert keys(line) == keys(real)
    assert keys(line["response"]) == keys(real["response"])
    assert keys(body) == keys(real_body)
    assert set(body["choices"][0]) == set(real_body["choices"][0])
    assert set(body["usage"]) == set(real_body["usage"])
    assert set(body["usage"]["completion_tokens_details"]) == set(
        real_body["usage"]["completion_tokens_details"]
    )
    assert line["id"].startswith("batch_req_") and len(line["id"]) == len(real["id"])
    assert body["id"].startswith("chatcmpl-") and len(body["id"]) == len(real_body["id"])


def test_every_request_comes_back_once_but_not_in_input_order(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    lines = lines_for(30)

    answers = read_lines(client, run(client, lines).output_file_id)

    returned = [line["custom_id"] for line in answers]
    sent = [line["custom_id"] for line in lines]
    assert sorted(returned) == sorted(sent)
    assert returned != sent


# -- answers --------------------------------------------------------------------------------------
def test_json_schema_request_gets_json_content_valid_for_the_schema(sandbox: Sandbox) -> None:
    completion = only_answer(client_for(sandbox), schema_body())

    answer = json.loads(completion.choices[0].message.content or "")

    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(answer["name"], str) and isinstance(answer["age"], int)


def test_forced_tool_request_gets_a_call_with_json_arguments(sandbox: Sandbox) -> None:
    completion = only_answer(client_for(sandbox), tool_body())

    message = completion.choices[0].message
    (call,) = message.tool_calls or []
    arguments = json.loads(call.function.arguments)

    assert message.content is None and call.function.name == "record_person"
    assert call.id.startswith("call_")
    assert set(arguments) == {"name", "age"}
    # A call forced by name finishes with "stop", as the live API does.
    assert completion.choices[0].finish_reason == "stop"


def test_required_tool_choice_finishes_with_tool_calls(sandbox: Sandbox) -> None:
    completion = only_answer(client_for(sandbox), tool_body(tool_choice="required"))

    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.choices[0].message.tool_calls


def test_request_without_schema_gets_plain_text(sandbox: Sandbox) -> None:
    completion = only_answer(client_for(sandbox), chat_body())

    assert completion.choices[0].message.content == "Sandbox answer for only."
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_scripted_answer_from_the_responder_is_returned(sandbox: Sandbox) -> None:
    sandbox.model = FakeModel({"only": {"name": "Ada", "age": 36}})

    completion = only_answer(client_for(sandbox), schema_body())

    assert json.loads(completion.choices[0].message.content or "") == {"name": "Ada", "age": 36}


# -- line faults ----------------------------------------------------------------------------------
def test_error_fault_sends_requests_to_the_error_file_only(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, error_rate=1.0)
    client = client_for(sandbox)

    batch = run(client, lines_for(6))

    assert batch.status == "completed"
    assert batch.output_file_id is None
    assert batch.request_counts is not None
    assert batch.request_counts.model_dump() == {"total": 6, "completed": 0, "failed": 6}
    failures = read_lines(client, batch.error_file_id)
    assert sorted(line["custom_id"] for line in failures) == [f"req-{i}" for i in range(6)]
    for line in failures:
        assert line["error"] is None
        assert line["response"]["status_code"] in (400, 500)
        assert set(line["response"]["body"]["error"]) == {"message", "type", "param", "code"}


def test_error_file_lines_have_the_keys_of_a_real_error_file(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, error_rate=1.0)
    client = client_for(sandbox)
    real = json.loads((REAL_OUTPUTS / "openai_errors_1.jsonl").read_text().splitlines()[0])

    (line,) = read_lines(client, run(client, lines_for(1)).error_file_id)

    assert list(line) == list(real)
    assert list(line["response"]) == list(real["response"])
    assert list(line["response"]["body"]["error"]) == list(real["response"]["body"]["error"])


def test_some_errors_split_a_batch_between_output_and_error_files(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, error_rate=0.3)
    client = client_for(sandbox)

    batch = run(client, lines_for(40))

    answers = read_lines(client, batch.output_file_id)
    failures = read_lines(client, batch.error_file_id)
    assert batch.request_counts is not None
    assert batch.request_counts.completed == len(answers) > 0
    assert batch.request_counts.failed == len(failures) > 0
    assert len(answers) + len(failures) == 40


def test_invalid_json_fault_gives_content_that_does_not_parse(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, invalid_json_rate=1.0)

    completion = only_answer(client_for(sandbox), schema_body())

    with pytest.raises(json.JSONDecodeError):
        json.loads(completion.choices[0].message.content or "")


def test_schema_violation_fault_gives_json_missing_a_required_field(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, schema_violation_rate=1.0)

    completion = only_answer(client_for(sandbox), schema_body())

    answer = json.loads(completion.choices[0].message.content or "")
    assert isinstance(answer, dict)
    assert not set(PERSON["required"]) <= set(answer)


def test_truncated_fault_finishes_with_length_and_cut_content(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, truncated_rate=1.0)

    completion = only_answer(client_for(sandbox), schema_body(max_completion_tokens=64))

    choice = completion.choices[0]
    assert choice.finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 64
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice.message.content or "")


def test_truncated_fault_cuts_tool_arguments(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, truncated_rate=1.0)

    completion = only_answer(client_for(sandbox), tool_body())

    (call,) = completion.choices[0].message.tool_calls or []
    assert completion.choices[0].finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(call.function.arguments)


def test_refusal_fault_sets_refusal_and_leaves_content_empty(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, refusal_rate=1.0)

    completion = only_answer(client_for(sandbox), tool_body())

    message = completion.choices[0].message
    assert message.refusal
    assert message.content is None and message.tool_calls is None


def test_body_the_sandbox_cannot_read_comes_back_as_a_400_line(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    unreadable = chat_body(response_format={"type": "json_schema", "json_schema": "person"})

    batch = run(client, [request_line("odd", unreadable), request_line("fine")])

    (failure,) = read_lines(client, batch.error_file_id)
    assert failure["custom_id"] == "odd"
    assert failure["response"]["status_code"] == 400
    assert failure["response"]["body"]["error"]["type"] == "invalid_request_error"
    assert [line["custom_id"] for line in read_lines(client, batch.output_file_id)] == ["fine"]


# -- batch outcomes -------------------------------------------------------------------------------
def test_fail_validation_outcome_fails_the_batch_with_an_errors_list(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(
        completion_delay=TEST_COMPLETION_DELAY, batch_outcome=BatchOutcome.FAIL_VALIDATION
    )
    client = client_for(sandbox)

    seen = wait(client, submit(client, lines_for(3)))

    batch = seen[-1]
    assert [b.status for b in seen if b.status != "validating"] == ["failed"]
    assert batch.failed_at is not None and batch.in_progress_at is None
    assert batch.output_file_id is None and batch.error_file_id is None
    assert batch.errors is not None and batch.errors.object == "list"
    assert batch.errors.data and batch.errors.data[0].code == "model_not_found"


@pytest.mark.parametrize(
    ("lines", "code", "line", "param"),
    [
        ([request_line("a"), request_line("a")], "duplicate_custom_id", 2, "custom_id"),
        ([request_line("a", method="GET")], "invalid_request", 1, "method"),
        ([request_line("a", url="/v1/embeddings")], "invalid_url", 1, "url"),
        (
            [request_line("a"), request_line("b", {**chat_body(), "model": "gpt-4o"})],
            "mismatched_model",
            2,
            "body.model",
        ),
        ([{"custom_id": "a"}, "not an object"], "invalid_request", 1, "method"),
    ],
    ids=["duplicate-id", "method", "url", "two-models", "not-a-request"],
)
def test_invalid_input_fails_the_batch_naming_the_line(
    sandbox: Sandbox, lines: list[Any], code: str, line: int, param: str
) -> None:
    client = client_for(sandbox)

    batch = run(client, lines)

    assert batch.status == "failed"
    assert batch.errors is not None and batch.errors.data
    first = batch.errors.data[0]
    assert (first.code, first.line, first.param) == (code, line, param)
    assert first.message


def test_line_that_is_not_json_fails_the_batch(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    content = json.dumps(request_line("a")).encode() + b"\n{not json\n"
    uploaded = client.files.create(file=("batch.jsonl", content), purpose="batch")

    batch = wait(
        client,
        client.batches.create(
            input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h"
        ),
    )[-1]

    assert batch.status == "failed"
    assert batch.errors is not None and batch.errors.data
    assert (batch.errors.data[0].code, batch.errors.data[0].line) == ("invalid_json_line", 2)


def test_empty_input_file_fails_the_batch(sandbox: Sandbox) -> None:
    client = client_for(sandbox)

    batch = run(client, [])

    assert batch.status == "failed"
    assert batch.errors is not None and batch.errors.data
    assert batch.errors.data[0].code == "empty_file"


def test_input_over_the_request_limit_fails_the_batch(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_app, "MAX_REQUESTS", 3)
    client = client_for(sandbox)

    batch = run(client, lines_for(4))

    assert batch.status == "failed"
    assert batch.errors is not None and batch.errors.data
    assert batch.errors.data[0].code == "too_many_tasks"


def test_input_over_the_size_limit_fails_the_batch(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_app, "MAX_INPUT_BYTES", 100)
    client = client_for(sandbox)

    batch = run(client, lines_for(4))

    assert batch.status == "failed"
    assert batch.errors is not None and batch.errors.data
    assert batch.errors.data[0].code == "file_too_large"


def test_expired_batch_returns_unfinished_requests_as_batch_expired(sandbox: Sandbox) -> None:
    faults = Faults(completion_delay=TEST_COMPLETION_DELAY, batch_outcome=BatchOutcome.EXPIRE)
    sandbox.faults = faults
    client = client_for(sandbox)
    lines = lines_for(30)

    batch = run(client, lines)

    finished = {
        line["custom_id"] for line in lines if faults.finishes_before_end(line["custom_id"])
    }
    answers = read_lines(client, batch.output_file_id)
    unfinished = read_lines(client, batch.error_file_id)
    assert batch.status == "expired" and batch.expired_at is not None
    assert 0 < len(finished) < 30
    assert {line["custom_id"] for line in answers} == finished
    assert len(answers) + len(unfinished) == 30
    for line in unfinished:
        assert line["response"] is None
        assert line["error"]["code"] == "batch_expired" and line["error"]["message"]
    assert batch.request_counts is not None
    assert batch.request_counts.model_dump() == {
        "total": 30,
        "completed": len(finished),
        "failed": 0,
    }


def test_cancel_outcome_cancels_midway_keeping_finished_answers(sandbox: Sandbox) -> None:
    faults = Faults(completion_delay=TEST_COMPLETION_DELAY, batch_outcome=BatchOutcome.CANCEL)
    sandbox.faults = faults
    client = client_for(sandbox)
    lines = lines_for(30)

    batch = run(client, lines)

    finished = {
        line["custom_id"] for line in lines if faults.finishes_before_end(line["custom_id"])
    }
    answers = read_lines(client, batch.output_file_id)
    unfinished = read_lines(client, batch.error_file_id)
    assert batch.status == "cancelled"
    assert batch.in_progress_at is not None
    assert batch.cancelling_at is not None and batch.cancelled_at is not None
    assert {line["custom_id"] for line in answers} == finished
    assert {line["error"]["code"] for line in unfinished} == {"batch_cancelled"}
    assert len(answers) + len(unfinished) == 30


def test_cancel_call_moves_the_batch_to_cancelling_then_cancelled(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    batch = submit(client, lines_for(10))

    cancelling = client.batches.cancel(batch.id)
    ended = wait(client, cancelling)[-1]

    assert isinstance(cancelling, Batch)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    assert ended.status == "cancelled" and ended.cancelled_at is not None
    answers = read_lines(client, ended.output_file_id)
    unfinished = read_lines(client, ended.error_file_id)
    assert len(answers) + len(unfinished) == 10


def test_cancelling_an_ended_batch_is_a_conflict(sandbox: Sandbox) -> None:
    client = client_for(sandbox, max_retries=0)  # the SDK would retry a 409
    batch = run(client, lines_for(1))

    with pytest.raises(openai.ConflictError, match="completed"):
        client.batches.cancel(batch.id)


# -- listing and lookup ---------------------------------------------------------------------------
def test_list_pages_newest_first_with_after_and_has_more(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    created = [submit(client, lines_for(1)).id for _ in range(3)]

    first = client.batches.list(limit=2)
    second = client.batches.list(limit=2, after=first.data[-1].id)

    assert [batch.id for batch in first.data] == created[::-1][:2]
    assert first.has_more is True
    assert second.data[0].id == created[0]
    assert all(isinstance(batch, Batch) for batch in first.data + second.data)


def test_a_batch_is_found_again_by_its_metadata(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    job_id = uuid.uuid4().hex
    wanted = submit(client, lines_for(1), metadata={"batchline_job": job_id})
    for _ in range(3):
        submit(client, lines_for(1))

    found = [
        b.id
        for b in client.batches.list(limit=2)
        if (b.metadata or {}).get("batchline_job") == job_id
    ]

    assert found == [wanted.id]


def test_unknown_batch_is_not_found(sandbox: Sandbox) -> None:
    with pytest.raises(openai.NotFoundError):
        client_for(sandbox).batches.retrieve("batch_does_not_exist")


def test_batch_for_another_endpoint_is_refused(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    uploaded = upload(client, lines_for(1))

    with pytest.raises(openai.BadRequestError, match="endpoint"):
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h"
        )


# -- the front door -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("knob", "status", "error_class"),
    [
        ("http_429_rate", 429, openai.RateLimitError),
        ("http_500_rate", 500, openai.InternalServerError),
        ("http_503_rate", 503, openai.InternalServerError),
    ],
)
def test_http_fault_answers_in_openai_error_shape(
    sandbox: Sandbox, knob: str, status: int, error_class: type[openai.APIStatusError]
) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, **{knob: 1.0})
    client = client_for(sandbox, max_retries=0)

    with pytest.raises(error_class) as caught:
        client.batches.list()

    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    assert set(caught.value.body) == {"message", "type", "param", "code"}
    assert caught.value.request_id and caught.value.request_id.startswith("req_")


@pytest.mark.parametrize("authorization", ["", "Bearer"], ids=["missing", "empty"])
def test_call_without_a_key_is_unauthorized(sandbox: Sandbox, authorization: str) -> None:
    client = client_for(sandbox, max_retries=0, default_headers={"Authorization": authorization})

    with pytest.raises(openai.AuthenticationError) as caught:
        client.files.create(file=("batch.jsonl", b"{}\n"), purpose="batch")

    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "invalid_api_key"
