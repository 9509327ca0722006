"""The Anthropic emulation, driven only through the official ``anthropic`` SDK.

Batches and result lines are read through the SDK's typed models (``MessageBatch``,
``MessageBatchIndividualResponse``, ``DeletedMessageBatch``); raw lines are compared with
results captured from the live API.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
import pytest
from anthropic.types import Message, TextBlock, ToolUseBlock
from anthropic.types.messages import (
    DeletedMessageBatch,
    MessageBatch,
    MessageBatchIndividualResponse,
)

from batchline.sandbox import BatchOutcome, FakeModel, Faults, Sandbox
from batchline.sandbox import anthropic as anthropic_app
from tests.conftest import REAL_OUTPUTS, TEST_COMPLETION_DELAY

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


# -- helpers --------------------------------------------------------------------------------------
def client_for(sb: Sandbox, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sb.anthropic_base_url, api_key="sk-ant-test", **options)


def params(content: str = "Who is in this note?", **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }


def tool_params(**extra: Any) -> dict[str, Any]:
    tool = {"name": "record_person", "input_schema": PERSON}
    return params(tools=[tool], tool_choice={"type": "tool", "name": "record_person"}, **extra)


def format_params() -> dict[str, Any]:
    # output_config.format needs every object closed (docs/provider-rules.md).
    schema = {**PERSON, "additionalProperties": False}
    return params(output_config={"format": {"type": "json_schema", "schema": schema}})


def requests_for(count: int, request_params: dict[str, Any] | None = None) -> list[dict]:
    return [{"custom_id": f"req-{i}", "params": request_params or params()} for i in range(count)]


def wait(client: anthropic.Anthropic, batch: MessageBatch) -> list[MessageBatch]:
    """Poll until the batch has ended; every state seen, newest last."""
    seen = [batch]
    deadline = time.monotonic() + 10
    while seen[-1].processing_status != "ended":
        assert time.monotonic() < deadline, f"batch stuck in {seen[-1].processing_status}"
        time.sleep(0.02)
        seen.append(client.messages.batches.retrieve(batch.id))
    return seen


def run(client: anthropic.Anthropic, requests: list[dict]) -> MessageBatch:
    return wait(client, client.messages.batches.create(requests=requests))[-1]


def results(client: anthropic.Anthropic, batch_id: str) -> list[MessageBatchIndividualResponse]:
    return list(client.messages.batches.results(batch_id))


def raw_results(client: anthropic.Anthropic, batch_id: str) -> list[dict[str, Any]]:
    text = client.messages.batches.with_raw_response.results(batch_id).text()
    return [json.loads(line) for line in text.splitlines()]


def only_message(client: anthropic.Anthropic, request_params: dict[str, Any]) -> Message:
    """Run a one-request batch and return its message, which must have succeeded."""
    batch = run(client, [{"custom_id": "only", "params": request_params}])
    (line,) = results(client, batch.id)
    assert line.result.type == "succeeded"
    return line.result.message


# -- lifecycle ------------------------------------------------------------------------------------
def test_batch_is_in_progress_then_ended_with_an_absolute_results_url(sandbox: Sandbox) -> None:
    client = client_for(sandbox)

    created = client.messages.batches.create(requests=requests_for(4))
    ended = wait(client, created)[-1]

    assert isinstance(created, MessageBatch)
    assert created.id.startswith("msgbatch_01")
    assert created.processing_status == "in_progress"
    assert created.results_url is None and created.ended_at is None
    assert created.request_counts.model_dump() == {
        "processing": 4,
        "succeeded": 0,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
    }
    assert ended.results_url == (
        f"{sandbox.base_url}/anthropic/v1/messages/batches/{created.id}/results"
    )
    assert ended.ended_at is not None and ended.ended_at >= ended.created_at
    assert ended.request_counts.processing == 0 and ended.request_counts.succeeded == 4
    assert (ended.expires_at - ended.created_at).total_seconds() == pytest.approx(24 * 3600)


def test_results_url_uses_the_address_the_client_called(sandbox: Sandbox) -> None:
    # A client behind a published port or another host name can only follow the address it
    # used itself, not the one the sandbox listens on.
    other_name = sandbox.anthropic_base_url.replace("127.0.0.1", "localhost")
    client = anthropic.Anthropic(base_url=other_name, api_key="sk-ant-test")

    ended = wait(client, client.messages.batches.create(requests=requests_for(1)))[-1]

    assert ended.results_url is not None
    assert ended.results_url.startswith(other_name)
    assert len(results(client, ended.id)) == 1


def test_results_come_back_once_each_but_not_in_input_order(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    requests = requests_for(30)

    lines = results(client, run(client, requests).id)

    returned = [line.custom_id for line in lines]
    sent = [request["custom_id"] for request in requests]
    assert all(isinstance(line, MessageBatchIndividualResponse) for line in lines)
    assert sorted(returned) == sorted(sent)
    assert returned != sent


def test_succeeded_lines_have_the_keys_of_live_results(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    live = [json.loads(line) for line in (REAL_OUTPUTS / "anthropic_results_1.jsonl").open()]
    real = next(line for line in live if line["result"]["type"] == "succeeded")

    (line,) = raw_results(client, run(client, requests_for(1)).id)

    message, real_message = line["result"]["message"], real["result"]["message"]
    assert list(line) == list(real)
    assert list(message) == list(real_message)
    assert list(message["usage"]) == list(real_message["usage"])
    assert message["usage"]["service_tier"] == "batch"
    assert message["id"].startswith("msg_01") and len(message["id"]) == len(real_message["id"])


# -- answers --------------------------------------------------------------------------------------
def test_forced_tool_gives_a_tool_use_block_with_schema_valid_input(sandbox: Sandbox) -> None:
    message = only_message(client_for(sandbox), tool_params())

    (block,) = message.content
    assert isinstance(block, ToolUseBlock)
    assert message.stop_reason == "tool_use"
    assert block.name == "record_person" and block.id.startswith("toolu_01")
    assert isinstance(block.input["name"], str) and isinstance(block.input["age"], int)


def test_output_format_json_schema_gives_json_text(sandbox: Sandbox) -> None:
    message = only_message(client_for(sandbox), format_params())

    (block,) = message.content
    assert isinstance(block, TextBlock)
    assert message.stop_reason == "end_turn"
    assert set(json.loads(block.text)) == {"name", "age"}


def test_request_without_schema_gives_text_and_plausible_usage(sandbox: Sandbox) -> None:
    message = only_message(client_for(sandbox), params("Say something about " + "cats " * 40))

    (block,) = message.content
    assert isinstance(block, TextBlock) and block.text == "Sandbox answer for only."
    assert message.usage.input_tokens > 40
    assert message.usage.output_tokens == FakeModel.count_tokens(block.text)


def test_empty_messages_come_back_errored_as_the_live_api_does(sandbox: Sandbox) -> None:
    client = client_for(sandbox)

    batch = run(client, [{"custom_id": "bad", "params": params() | {"messages": []}}])

    (line,) = results(client, batch.id)
    assert line.result.type == "errored"
    assert line.result.error.error.message == "messages: at least one message is required"
    assert batch.request_counts.errored == 1


def test_params_the_sandbox_cannot_read_come_back_errored(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    requests = [
        {"custom_id": "odd", "params": params(output_config="json please")},
        {"custom_id": "fine", "params": params()},
    ]

    batch = run(client, requests)

    by_id = {line.custom_id: line.result for line in results(client, batch.id)}
    assert by_id["odd"].type == "errored"
    assert by_id["odd"].error.error.type == "invalid_request_error"
    assert by_id["fine"].type == "succeeded"


# -- line faults ----------------------------------------------------------------------------------
def test_error_fault_gives_errored_results_nested_like_live_ones(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, error_rate=1.0)
    client = client_for(sandbox)
    live = [json.loads(line) for line in (REAL_OUTPUTS / "anthropic_results_1.jsonl").open()]
    real = next(line for line in live if line["result"]["type"] == "errored")

    batch = run(client, requests_for(8))

    typed = results(client, batch.id)
    raw = raw_results(client, batch.id)
    assert batch.request_counts.errored == 8 and batch.request_counts.succeeded == 0
    assert {line.result.type for line in typed} == {"errored"}
    kinds = {line.result.error.error.type for line in typed}
    assert kinds <= {"invalid_request_error", "api_error"} and "invalid_request_error" in kinds
    for line in raw:
        assert list(line["result"]) == list(real["result"])
        assert list(line["result"]["error"]) == list(real["result"]["error"])
        assert line["result"]["error"]["request_id"] is None


def test_invalid_json_fault_writes_unparseable_json_text(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, invalid_json_rate=1.0)

    message = only_message(client_for(sandbox), format_params())

    (block,) = message.content
    assert isinstance(block, TextBlock)
    with pytest.raises(json.JSONDecodeError):
        json.loads(block.text)


def test_invalid_json_fault_on_a_forced_tool_answers_in_text_instead(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, invalid_json_rate=1.0)

    message = only_message(client_for(sandbox), tool_params())

    (block,) = message.content
    assert isinstance(block, TextBlock) and message.stop_reason == "end_turn"
    with pytest.raises(json.JSONDecodeError):
        json.loads(block.text)


def test_schema_violation_fault_drops_a_required_field_from_tool_input(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, schema_violation_rate=1.0)

    message = only_message(client_for(sandbox), tool_params())

    (block,) = message.content
    assert isinstance(block, ToolUseBlock)
    assert not set(PERSON["required"]) <= set(block.input)


def test_truncated_fault_stops_at_max_tokens_with_partial_tool_input(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, truncated_rate=1.0)

    message = only_message(client_for(sandbox), tool_params())

    (block,) = message.content
    assert isinstance(block, ToolUseBlock)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 256
    assert set(block.input) < {"name", "age"}


def test_truncated_fault_cuts_json_text(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, truncated_rate=1.0)

    message = only_message(client_for(sandbox), format_params())

    (block,) = message.content
    assert isinstance(block, TextBlock) and message.stop_reason == "max_tokens"
    with pytest.raises(json.JSONDecodeError):
        json.loads(block.text)


def test_refusal_fault_stops_with_refusal(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, refusal_rate=1.0)

    message = only_message(client_for(sandbox), tool_params())

    assert message.stop_reason == "refusal"
    assert message.stop_details is not None and message.stop_details.type == "refusal"
    assert not any(isinstance(block, ToolUseBlock) for block in message.content)


# -- creation checks ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "custom_ids",
    [[""], ["has space"], ["x" * 65], ["naïve"], ["same", "same"]],
    ids=["empty", "space", "too-long", "non-ascii", "duplicate"],
)
def test_bad_custom_ids_are_refused_at_creation(sandbox: Sandbox, custom_ids: list[str]) -> None:
    client = client_for(sandbox)
    requests = [{"custom_id": custom_id, "params": params()} for custom_id in custom_ids]

    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.batches.create(requests=requests)

    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "custom_id" in caught.value.body["error"]["message"]


def test_longest_allowed_custom_id_is_accepted(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    custom_id = "A-z_0" * 12 + "abcd"

    batch = run(client, [{"custom_id": custom_id, "params": params()}])

    assert [line.custom_id for line in results(client, batch.id)] == [custom_id]


def test_fail_validation_outcome_refuses_the_batch(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(
        completion_delay=TEST_COMPLETION_DELAY, batch_outcome=BatchOutcome.FAIL_VALIDATION
    )

    with pytest.raises(anthropic.BadRequestError) as caught:
        client_for(sandbox).messages.batches.create(requests=requests_for(2))

    assert caught.value.status_code == 400


def test_batch_over_the_request_limit_is_refused(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(anthropic_app, "MAX_REQUESTS", 3)

    with pytest.raises(anthropic.BadRequestError, match="at most 3"):
        client_for(sandbox).messages.batches.create(requests=requests_for(4))


def test_batch_over_the_size_limit_is_refused_as_too_large(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(anthropic_app, "MAX_BODY_BYTES", 1000)

    with pytest.raises(anthropic.APIStatusError) as caught:
        client_for(sandbox, max_retries=0).messages.batches.create(requests=requests_for(20))

    assert caught.value.status_code == 413
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "request_too_large"


# -- batch outcomes -------------------------------------------------------------------------------
def test_expired_batch_ends_with_expired_results_for_unfinished_requests(sandbox: Sandbox) -> None:
    faults = Faults(completion_delay=TEST_COMPLETION_DELAY, batch_outcome=BatchOutcome.EXPIRE)
    sandbox.faults = faults
    client = client_for(sandbox)
    requests = requests_for(30)

    batch = run(client, requests)

    finished = {r["custom_id"] for r in requests if faults.finishes_before_end(r["custom_id"])}
    lines = results(client, batch.id)
    assert 0 < len(finished) < 30
    assert {line.custom_id for line in lines if line.result.type == "succeeded"} == finished
    assert {line.result.type for line in lines if line.custom_id not in finished} == {"expired"}
    assert batch.request_counts.expired == 30 - len(finished)
    assert batch.request_counts.succeeded == len(finished)
    assert batch.expires_at == batch.ended_at


def test_cancel_outcome_ends_with_canceled_results_for_unfinished_requests(
    sandbox: Sandbox,
) -> None:
    faults = Faults(completion_delay=TEST_COMPLETION_DELAY, batch_outcome=BatchOutcome.CANCEL)
    sandbox.faults = faults
    client = client_for(sandbox)
    requests = requests_for(30)

    batch = run(client, requests)

    finished = {r["custom_id"] for r in requests if faults.finishes_before_end(r["custom_id"])}
    lines = results(client, batch.id)
    assert batch.cancel_initiated_at is not None
    assert {line.custom_id for line in lines if line.result.type == "succeeded"} == finished
    assert {line.result.type for line in lines if line.custom_id not in finished} == {"canceled"}
    assert batch.request_counts.canceled == 30 - len(finished)


def test_cancel_call_moves_the_batch_to_canceling_then_ended(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    batch = client.messages.batches.create(requests=requests_for(10))

    canceling = client.messages.batches.cancel(batch.id)
    ended = wait(client, canceling)[-1]

    assert isinstance(canceling, MessageBatch)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    counts = ended.request_counts
    assert counts.canceled > 0
    assert counts.succeeded + counts.errored + counts.canceled == 10
    assert len(results(client, batch.id)) == 10


# -- delete, list, lookup -------------------------------------------------------------------------
def test_deleting_an_ended_batch_forgets_it(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    batch = run(client, requests_for(1))

    deleted = client.messages.batches.delete(batch.id)

    assert isinstance(deleted, DeletedMessageBatch)
    assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


def test_deleting_a_batch_in_progress_is_refused(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    batch = client.messages.batches.create(requests=requests_for(1))

    with pytest.raises(anthropic.BadRequestError, match="only ended batches"):
        client.messages.batches.delete(batch.id)


def test_list_pages_newest_first_with_after_id_and_before_id(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    oldest, middle, newest = (
        client.messages.batches.create(requests=requests_for(1)).id for _ in range(3)
    )

    first = client.messages.batches.list(limit=2)
    after = client.messages.batches.list(limit=2, after_id=middle)
    before = client.messages.batches.list(limit=1, before_id=oldest)

    assert [batch.id for batch in first.data] == [newest, middle]
    assert (first.first_id, first.last_id, first.has_more) == (newest, middle, True)
    assert after.data[0].id == oldest
    assert [batch.id for batch in before.data] == [middle]
    assert before.has_more is True
    assert all(isinstance(batch, MessageBatch) for batch in first.data)


def test_unknown_batch_is_not_found(sandbox: Sandbox) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client_for(sandbox).messages.batches.retrieve("msgbatch_01doesnotexist")

    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "not_found_error"


def test_scripted_answer_from_the_responder_is_the_tool_input(sandbox: Sandbox) -> None:
    sandbox.model = FakeModel(lambda custom_id, request: {"name": custom_id, "age": 7})

    message = only_message(client_for(sandbox), tool_params())

    (block,) = message.content
    assert isinstance(block, ToolUseBlock) and block.input == {"name": "only", "age": 7}


# -- the front door -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("knob", "status", "error_class", "kind"),
    [
        ("http_429_rate", 429, anthropic.RateLimitError, "rate_limit_error"),
        ("http_500_rate", 500, anthropic.InternalServerError, "api_error"),
        ("http_503_rate", 503, anthropic.InternalServerError, "overloaded_error"),
    ],
)
def test_http_fault_answers_in_anthropic_error_shape(
    sandbox: Sandbox, knob: str, status: int, error_class: type, kind: str
) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, **{knob: 1.0})
    client = client_for(sandbox, max_retries=0)

    with pytest.raises(error_class) as caught:
        client.messages.batches.list()

    assert caught.value.status_code == status
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == kind and caught.value.body["error"]["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": anthropic.Omit()},
        {"Authorization": anthropic.Omit(), "X-Api-Key": ""},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "empty-x-api-key", "empty-bearer"],
)
def test_call_without_a_key_is_unauthorized(sandbox: Sandbox, headers: dict[str, Any]) -> None:
    client = client_for(sandbox, max_retries=0, default_headers=headers)

    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.batches.create(requests=requests_for(1))

    assert caught.value.body["error"]["type"] == "authentication_error"


def test_key_in_x_api_key_header_is_accepted(sandbox: Sandbox) -> None:
    headers = {"Authorization": anthropic.Omit(), "X-Api-Key": "sk-ant-test"}
    client = client_for(sandbox, default_headers=headers)

    batch = client.messages.batches.create(requests=requests_for(1))

    assert client.messages.batches.retrieve(batch.id).id == batch.id
