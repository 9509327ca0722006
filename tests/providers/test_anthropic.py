"""The Anthropic provider: request lines, result lines, and the Message Batches API end to end.

Offline tests need no server. The end-to-end tests drive the official ``anthropic`` SDK over
HTTP against the sandbox, exactly as production drives the real API.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from anthropic.types.messages import MessageBatch
from pydantic import BaseModel, SecretStr

from batchline.batching import BatchError, BatchProcessor, BatchStatus, BatchSuccess, ErrorType
from batchline.batching.options import RequestOptions
from batchline.batching.providers import provider_class
from batchline.batching.providers.anthropic import (
    AnthropicProvider,
    batch_status,
    split_lines,
)
from batchline.batching.providers.base import BatchInfo
from batchline.config import Settings
from batchline.errors import (
    ConfigurationError,
    InvalidRequestError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    ResultsNotReadyError,
)
from batchline.sandbox import BatchOutcome, Faults, Sandbox
from batchline.sandbox.server import free_port
from tests.conftest import REAL_OUTPUTS, TEST_COMPLETION_DELAY
from tests.providers.contract import ProviderContract

MODEL = "claude-3-5-sonnet-20241022"


class User(BaseModel):
    """A person mentioned in the text."""

    name: str
    age: int


class QuickAnthropic(AnthropicProvider):
    """No SDK retries (a test asking for a 429 wants it now) and tiny list pages (so that
    two batches already need a second page)."""

    max_retries = 0
    list_page_size = 2


class TestAnthropicContract(ProviderContract):
    model = f"anthropic/{MODEL}"
    # Anthropic checks the whole request list when the batch is created.
    validation_fails_at_submit = True

    def missing_batch_id(self, sandbox: Sandbox) -> str:
        return "msgbatch_does_not_exist"


def offline_provider(**options: Any) -> AnthropicProvider:
    return AnthropicProvider(
        MODEL, Settings(anthropic_api_key=None, anthropic_base_url=None), **options
    )


def encode_one(
    messages: list[dict[str, Any]],
    *,
    custom_id: str = "request-0",
    options: RequestOptions | None = None,
    **provider_options: Any,
) -> dict[str, Any]:
    provider = offline_provider(**provider_options)
    encode = provider.line_encoder(User, options or RequestOptions(max_tokens=200))
    line: dict[str, Any] = orjson.loads(encode(custom_id, messages))
    return line


def result_line(custom_id: str, result: dict[str, Any]) -> bytes:
    return orjson.dumps({"custom_id": custom_id, "result": result})


def succeeded(content: list[dict[str, Any]], stop_reason: str = "end_turn") -> dict[str, Any]:
    return {
        "type": "succeeded",
        "message": {
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 7, "service_tier": "batch"},
        },
    }


def real_anthropic_lines() -> list[Any]:
    params = []
    for path in sorted(REAL_OUTPUTS.glob("anthropic_*.jsonl")):
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            if line.strip():
                params.append(pytest.param(line, id=f"{path.stem}:{number}"))
    return params


REAL_LINES = real_anthropic_lines()


# -- request lines ---------------------------------------------------------------------------
def test_registry_resolves_anthropic_to_this_provider() -> None:
    assert provider_class("anthropic") is AnthropicProvider


def test_limits_are_anthropics_per_batch_limits() -> None:
    assert AnthropicProvider.limits.max_requests == 100_000
    assert AnthropicProvider.limits.max_bytes == 256 * 1024 * 1024


def test_system_message_moves_to_params_system() -> None:
    line = encode_one(
        [
            {"role": "system", "content": "Extract the user."},
            {"role": "user", "content": "I'm Alice, 28."},
        ]
    )

    assert line["params"]["system"] == "Extract the user."
    assert line["params"]["messages"] == [{"role": "user", "content": "I'm Alice, 28."}]


def test_several_system_messages_are_joined_in_order() -> None:
    line = encode_one(
        [
            {"role": "system", "content": "Extract the user."},
            {"role": "user", "content": "I'm Bob."},
            {"role": "system", "content": "Answer in English."},
        ]
    )

    assert line["params"]["system"] == "Extract the user.\n\nAnswer in English."


def test_system_text_and_system_blocks_merge_into_one_block_list() -> None:
    cached = [{"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral"}}]
    line = encode_one(
        [
            {"role": "system", "content": "Extract the user."},
            {"role": "system", "content": cached},
            {"role": "user", "content": "I'm Carol."},
        ]
    )

    assert line["params"]["system"] == [{"type": "text", "text": "Extract the user."}, *cached]


def test_a_conversation_without_system_message_has_no_system_param() -> None:
    line = encode_one([{"role": "user", "content": "I'm Dave, 40."}])

    assert "system" not in line["params"]


def test_same_role_messages_and_content_blocks_pass_through_unchanged() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "First part."},
        {"role": "user", "content": [{"type": "text", "text": "Second part."}]},
        {"role": "assistant", "content": "Noted."},
        {"role": "assistant", "content": "Go on."},
    ]

    line = encode_one(messages)

    assert line["params"]["messages"] == messages


def test_line_forces_one_tool_whose_input_schema_is_the_response_model() -> None:
    line = encode_one(
        [{"role": "user", "content": "I'm Erin, 31."}],
        options=RequestOptions(max_tokens=200, temperature=0.1),
    )

    params = line["params"]
    assert line["custom_id"] == "request-0"
    assert (params["model"], params["max_tokens"], params["temperature"]) == (MODEL, 200, 0.1)
    [tool] = params["tools"]
    assert tool["name"] == "User"
    assert tool["input_schema"] == User.model_json_schema()
    assert tool["description"]
    assert params["tool_choice"] == {"type": "tool", "name": "User"}
    assert "output_config" not in params


def test_json_schema_mode_asks_for_native_output_instead_of_a_tool() -> None:
    line = encode_one([{"role": "user", "content": "I'm Frank."}], output_mode="json_schema")

    params = line["params"]
    output_format = params["output_config"]["format"]
    assert output_format["type"] == "json_schema"
    assert output_format["schema"]["properties"].keys() == {"name", "age"}
    assert output_format["schema"]["additionalProperties"] is False
    assert "tools" not in params
    assert "tool_choice" not in params


def test_unset_temperature_is_left_to_the_model_default() -> None:
    line = encode_one([{"role": "user", "content": "Hi"}], options=RequestOptions(temperature=None))

    assert "temperature" not in line["params"]


def test_extra_parameters_reach_every_request() -> None:
    line = encode_one(
        [{"role": "user", "content": "Hi"}],
        options=RequestOptions(extra={"top_k": 5, "stop_sequences": ["END"]}),
    )

    assert line["params"]["top_k"] == 5
    assert line["params"]["stop_sequences"] == ["END"]


@pytest.mark.parametrize("bad_id", ["has space", "", "x" * 65, "path/like", "dotted.id", "ümlaut"])
def test_custom_id_outside_anthropics_alphabet_is_refused_by_name(bad_id: str) -> None:
    encode = offline_provider().line_encoder(User, RequestOptions())

    with pytest.raises(InvalidRequestError, match="custom_id") as raised:
        encode(bad_id, [{"role": "user", "content": "Hi"}])
    assert repr(bad_id) in str(raised.value)


def test_custom_id_of_64_letters_digits_dashes_and_underscores_is_accepted() -> None:
    custom_id = ("job_7f3a-" * 8)[:64]

    line = encode_one([{"role": "user", "content": "Hi"}], custom_id=custom_id)

    assert line["custom_id"] == custom_id


def test_bad_custom_id_fails_the_build_and_leaves_no_request_file(tmp_path: Path) -> None:
    processor = BatchProcessor(f"anthropic/{MODEL}", User, settings=Settings())
    target = tmp_path / "requests.jsonl"

    with pytest.raises(InvalidRequestError, match="job 1"):
        processor.create_batch_from_messages(
            [[{"role": "user", "content": "Hi"}]] * 2,
            file_path=target,
            custom_ids=["job-0", "job 1"],
        )
    assert list(tmp_path.iterdir()) == []


def test_role_anthropic_does_not_know_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="'tool'"):
        encode_one([{"role": "user", "content": "Hi"}, {"role": "tool", "content": "42"}])


def test_message_without_role_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="role"):
        encode_one([{"content": "Hi"}])


def test_conversation_of_only_system_messages_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="at least one user or assistant"):
        encode_one([{"role": "system", "content": "Be brief."}])


def test_batch_processor_writes_one_valid_line_per_conversation() -> None:
    processor = BatchProcessor(f"anthropic/{MODEL}", User, settings=Settings())
    conversations = [
        [{"role": "system", "content": "Extract."}, {"role": "user", "content": f"I'm {age}."}]
        for age in range(5)
    ]

    buffer = processor.create_batch_from_messages(conversations, file_path=None)

    assert isinstance(buffer, io.BytesIO)
    lines = [orjson.loads(line) for line in buffer.getvalue().splitlines()]
    assert [line["custom_id"] for line in lines] == [f"request-{i}" for i in range(5)]
    assert all(line["params"]["system"] == "Extract." for line in lines)


def test_request_line_that_is_not_a_json_object_is_refused_before_sending() -> None:
    source = io.BytesIO(b'{"custom_id": "a", "params": {}}\nnot json\n')

    with pytest.raises(InvalidRequestError, match="line 2"):
        offline_provider().submit(source, None)


# -- result lines ----------------------------------------------------------------------------
@pytest.mark.parametrize("line", REAL_LINES)
def test_every_real_anthropic_result_line_is_read(line: bytes) -> None:
    outcome = offline_provider().parse_line(line)

    assert outcome.custom_id == orjson.loads(line)["custom_id"]
    assert (outcome.error_type is not None) or (outcome.text is not None)


def test_real_result_files_parse_into_one_result_per_line_with_text_failing_validation() -> None:
    processor = BatchProcessor(f"anthropic/{MODEL}", User, settings=Settings())

    results = processor.parse_results(REAL_OUTPUTS / "anthropic_results_1.jsonl")

    by_id = {result.custom_id: result for result in results}
    assert by_id.keys() == {"probe-bad", "probe-alpha", "probe-beta"}
    assert isinstance(by_id["probe-alpha"], BatchError)
    assert by_id["probe-alpha"].error_type == ErrorType.INVALID_JSON


def test_real_errored_line_keeps_the_nested_error_type_and_message() -> None:
    [line] = [
        line
        for line in (REAL_OUTPUTS / "anthropic_results_1.jsonl").read_bytes().splitlines()
        if b'"errored"' in line
    ]

    outcome = offline_provider().parse_line(line)

    assert outcome.error_type == ErrorType.PROVIDER_ERROR
    assert outcome.provider_code == "invalid_request_error"
    assert outcome.error_message == "messages: at least one message is required"


def test_real_success_line_reports_integer_token_counts_only() -> None:
    line = (REAL_OUTPUTS / "anthropic_results_1.jsonl").read_bytes().splitlines()[1]

    outcome = offline_provider().parse_line(line)

    assert outcome.usage == {
        "input_tokens": 14,
        "output_tokens": 5,
        "cached_input_tokens": 0,
        "reasoning_tokens": 0,
        "total_tokens": 19,
    }


def test_tool_use_input_is_the_answer() -> None:
    line = result_line(
        "r1",
        succeeded(
            [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "User",
                    "input": {"name": "Al", "age": 3},
                }
            ],
            stop_reason="tool_use",
        ),
    )

    outcome = offline_provider().parse_line(line)

    assert outcome.data == {"name": "Al", "age": 3}
    assert outcome.text is None
    assert outcome.usage == {
        "input_tokens": 12,
        "output_tokens": 7,
        "cached_input_tokens": 0,
        "reasoning_tokens": 0,
        "total_tokens": 19,
    }


def test_json_text_in_first_text_block_is_the_answer_in_json_schema_mode() -> None:
    processor = BatchProcessor(f"anthropic/{MODEL}", User, settings=Settings())
    line = result_line(
        "r1",
        succeeded(
            [
                {"type": "text", "text": '{"name": "Bo", "age": 9}'},
                {"type": "text", "text": "trailing remark"},
            ]
        ),
    )

    [result] = processor.parse_results(line)

    assert isinstance(result, BatchSuccess)
    assert result.result == User(name="Bo", age=9)


def test_answer_cut_off_at_max_tokens_is_truncated() -> None:
    line = result_line(
        "r1",
        succeeded(
            [{"type": "tool_use", "id": "t", "name": "User", "input": {"name": "A"}}],
            "max_tokens",
        ),
    )

    outcome = offline_provider().parse_line(line)

    assert outcome.error_type == ErrorType.TRUNCATED
    assert "7 output tokens" in outcome.error_message


def test_refusal_is_reported_with_what_the_model_said() -> None:
    line = result_line("r1", succeeded([{"type": "text", "text": "I can't help."}], "refusal"))

    outcome = offline_provider().parse_line(line)

    assert outcome.error_type == ErrorType.REFUSAL
    assert "I can't help." in outcome.error_message


@pytest.mark.parametrize(
    ("kind", "error_type"), [("canceled", ErrorType.CANCELLED), ("expired", ErrorType.EXPIRED)]
)
def test_requests_that_never_ran_come_back_typed_by_why(kind: str, error_type: ErrorType) -> None:
    outcome = offline_provider().parse_line(result_line("r1", {"type": kind}))

    assert outcome.error_type == error_type
    assert outcome.custom_id == "r1"


def test_flat_error_object_is_read_too() -> None:
    line = result_line(
        "r1", {"type": "errored", "error": {"type": "overloaded_error", "message": "busy"}}
    )

    outcome = offline_provider().parse_line(line)

    assert (outcome.provider_code, outcome.error_message) == ("overloaded_error", "busy")


def test_unknown_result_type_makes_the_line_malformed_not_fatal() -> None:
    processor = BatchProcessor(f"anthropic/{MODEL}", User, settings=Settings())

    [result] = processor.parse_results(result_line("r1", {"type": "teleported"}))

    assert isinstance(result, BatchError)
    assert result.error_type == ErrorType.MALFORMED_LINE
    assert result.custom_id == "r1"


@pytest.mark.parametrize("size", [1, 2, 7, 64, 10_000])
def test_result_stream_is_split_into_lines_whatever_the_chunk_size(size: int) -> None:
    lines = [b'{"custom_id":"a"}', b'{"custom_id":"bb"}', b'{"custom_id":"ccc"}']
    stream = b"\n".join(lines) + b"\n\n"
    chunks = [stream[i : i + size] for i in range(0, len(stream), size)]

    assert list(split_lines(chunks)) == lines


# -- batch status ----------------------------------------------------------------------------
def message_batch(
    status: str, counts: dict[str, int], *, cancel_initiated: bool = False
) -> MessageBatch:
    fields: dict[str, Any] = {
        "id": "msgbatch_test",
        "type": "message_batch",
        "processing_status": status,
        "created_at": "2026-01-01T00:00:00Z",
        "expires_at": "2026-01-02T00:00:00Z",
        "request_counts": {
            "processing": 0,
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
            **counts,
        },
    }
    if cancel_initiated:
        fields["cancel_initiated_at"] = "2026-01-01T00:01:00Z"
    return MessageBatch.model_validate(fields)


@pytest.mark.parametrize(
    ("status", "counts", "expected"),
    [
        ("in_progress", {"processing": 3}, BatchStatus.IN_PROGRESS),
        ("canceling", {"processing": 3}, BatchStatus.CANCELLING),
        ("ended", {"succeeded": 2, "errored": 1}, BatchStatus.COMPLETED),
        ("ended", {"errored": 3}, BatchStatus.COMPLETED),
        ("ended", {"succeeded": 2, "expired": 1}, BatchStatus.EXPIRED),
    ],
)
def test_processing_status_maps_to_batchline_status(
    status: str, counts: dict[str, int], expected: BatchStatus
) -> None:
    assert batch_status(message_batch(status, counts)) == expected


def test_ended_batch_whose_cancel_was_asked_for_is_cancelled_even_with_expired_requests() -> None:
    counts = {"succeeded": 1, "canceled": 1, "expired": 1}
    batch = message_batch("ended", counts, cancel_initiated=True)

    assert batch_status(batch) == BatchStatus.CANCELLED


# -- credentials -----------------------------------------------------------------------------
def test_missing_key_names_the_env_var_before_any_network_call() -> None:
    provider = offline_provider()

    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        provider.get("msgbatch_anything")


def test_building_needs_no_key_but_submitting_does() -> None:
    processor = BatchProcessor(
        f"anthropic/{MODEL}", User, settings=Settings(anthropic_api_key=None)
    )
    buffer = processor.create_batch_from_messages([[{"role": "user", "content": "Hi"}]])

    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        processor.submit_batch(buffer)


# -- end to end through the SDK and the sandbox ----------------------------------------------
def sandbox_provider(**options: Any) -> QuickAnthropic:
    """A provider reading the env the ``sandbox`` fixture exported."""
    return QuickAnthropic(MODEL, Settings(), **options)


def submit_conversations(
    provider: AnthropicProvider,
    count: int,
    *,
    prefix: str = "request-",
    metadata: dict[str, str] | None = None,
) -> BatchInfo:
    encode = provider.line_encoder(User, RequestOptions(max_tokens=200))
    lines = [
        encode(
            f"{prefix}{i}",
            [
                {"role": "system", "content": "Extract the user."},
                {"role": "user", "content": f"I'm person {i}, {20 + i} years old."},
            ],
        )
        for i in range(count)
    ]
    return provider.submit(io.BytesIO(b"\n".join(lines) + b"\n"), metadata)


def wait_until_ended(provider: AnthropicProvider, batch_id: str) -> BatchInfo:
    deadline = time.monotonic() + 30
    while True:
        info = provider.get(batch_id)
        if info.status.is_terminal:
            return info
        assert time.monotonic() < deadline, f"batch never ended: {info}"
        time.sleep(0.05)


def read_results(
    provider: AnthropicProvider, batch_id: str
) -> list[BatchSuccess[User] | BatchError]:
    processor = BatchProcessor(f"anthropic/{MODEL}", User, settings=provider.settings)
    return processor.parse_results(provider.iter_result_lines(batch_id))


def test_submitted_batch_ends_completed_with_anthropic_counts_and_timestamps(
    sandbox: Sandbox,
) -> None:
    provider = sandbox_provider()

    created = submit_conversations(provider, 3)
    ended = wait_until_ended(provider, created.id)

    assert created.id.startswith("msgbatch_")
    assert created.status in (BatchStatus.IN_PROGRESS, BatchStatus.COMPLETED)
    assert (ended.status, ended.provider_status) == (BatchStatus.COMPLETED, "ended")
    assert ended.request_counts.to_dict() == {"total": 3, "completed": 3, "failed": 0, "pending": 0}
    assert ended.created_at is not None and ended.expires_at is not None
    assert ended.completed_at is not None and ended.completed_at >= ended.created_at


def test_results_stream_as_raw_lines_each_answering_through_the_forced_tool(
    sandbox: Sandbox,
) -> None:
    provider = sandbox_provider()
    batch = submit_conversations(provider, 40)
    wait_until_ended(provider, batch.id)

    lines = list(provider.iter_result_lines(batch.id))

    assert len(lines) == 40
    assert all(isinstance(line, bytes) and not line.endswith(b"\n") for line in lines)
    assert {orjson.loads(line)["custom_id"] for line in lines} == {
        f"request-{i}" for i in range(40)
    }
    first = orjson.loads(lines[0])["result"]["message"]
    assert [block["type"] for block in first["content"]] == ["tool_use"]
    assert first["content"][0]["name"] == "User"


def test_json_schema_mode_chosen_on_the_processor_runs_end_to_end(sandbox: Sandbox) -> None:
    processor = BatchProcessor(f"anthropic/{MODEL}", User, output_mode="json_schema")
    conversation = [{"role": "user", "content": "I'm Gina, 52."}]
    batch_id = processor.submit_batch(processor.create_batch_from_messages([conversation] * 3))
    wait_until_ended(processor.provider, batch_id)

    raw = io.BytesIO()
    results = list(processor.iter_results(batch_id, raw_sink=raw))

    assert len(results) == 3
    assert all(isinstance(r, BatchSuccess) and isinstance(r.result, User) for r in results)
    first = orjson.loads(raw.getvalue().splitlines()[0])
    assert [block["type"] for block in first["result"]["message"]["content"]] == ["text"]


def test_failed_requests_are_counted_as_failed_and_come_back_as_provider_errors(
    sandbox: Sandbox,
) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, seed=3, error_rate=0.4)
    provider = sandbox_provider()
    batch = submit_conversations(provider, 20)

    ended = wait_until_ended(provider, batch.id)
    results = read_results(provider, batch.id)

    errors = [r for r in results if isinstance(r, BatchError)]
    assert 0 < len(errors) < 20
    assert ended.status == BatchStatus.COMPLETED
    assert ended.request_counts.failed == len(errors)
    assert ended.request_counts.completed == 20 - len(errors)
    assert all(e.error_type == ErrorType.PROVIDER_ERROR and e.provider_code for e in errors)


def test_metadata_is_accepted_but_anthropic_reports_none(sandbox: Sandbox) -> None:
    provider = sandbox_provider()

    created = submit_conversations(provider, 1, metadata={"batchline_job": "job-42"})

    assert created.metadata == {}
    assert provider.get(created.id).metadata == {}


def test_cancel_moves_the_batch_to_cancelling_then_cancelled(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=3.0)
    provider = sandbox_provider()
    batch = submit_conversations(provider, 6)

    cancelling = provider.cancel(batch.id)
    ended = wait_until_ended(provider, batch.id)

    assert cancelling.status in (BatchStatus.CANCELLING, BatchStatus.CANCELLED)
    assert ended.status == BatchStatus.CANCELLED
    assert ended.request_counts.total == 6


def test_expired_batch_is_reported_expired(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(
        completion_delay=TEST_COMPLETION_DELAY, batch_outcome=BatchOutcome.EXPIRE
    )
    provider = sandbox_provider()
    batch = submit_conversations(provider, 10)

    ended = wait_until_ended(provider, batch.id)
    results = read_results(provider, batch.id)

    assert ended.status == BatchStatus.EXPIRED
    expired = [r for r in results if isinstance(r, BatchError)]
    assert expired and all(e.error_type == ErrorType.EXPIRED for e in expired)
    assert ended.request_counts.failed == len(expired)


def test_results_of_a_running_batch_are_not_ready(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(completion_delay=5.0)
    provider = sandbox_provider()
    batch = submit_conversations(provider, 1)

    with pytest.raises(ResultsNotReadyError):
        list(provider.iter_result_lines(batch.id))


def test_batch_anthropic_refuses_is_rejected_with_its_message(sandbox: Sandbox) -> None:
    provider = sandbox_provider()
    line = provider.line_encoder(User, RequestOptions())(
        "twin", [{"role": "user", "content": "Hi"}]
    )

    with pytest.raises(ProviderRejected, match="Duplicate custom_id") as raised:
        provider.submit(io.BytesIO(line + b"\n" + line + b"\n"), None)
    assert (raised.value.status_code, raised.value.code) == (400, "invalid_request_error")


def test_rate_limit_keeps_anthropics_error_type_as_the_code(sandbox: Sandbox) -> None:
    provider = sandbox_provider()
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, http_429_rate=1.0)

    with pytest.raises(ProviderRateLimited) as raised:
        provider.list(limit=1)
    assert raised.value.status_code == 429
    assert raised.value.code == "rate_limit_error"


def test_unreachable_server_is_a_retryable_unavailable_error() -> None:
    settings = Settings(
        anthropic_api_key=SecretStr("sk-ant-test"),
        anthropic_base_url=f"http://127.0.0.1:{free_port()}",
    )

    with pytest.raises(ProviderUnavailable):
        QuickAnthropic(MODEL, settings).get("msgbatch_any")


def test_a_failed_create_is_not_retried_so_it_cannot_make_a_second_batch(
    sandbox: Sandbox,
) -> None:
    # Seed 1 fails the first API call with a 500 and lets the second through: an SDK retry of
    # the create would succeed and could bill a batch the caller believes failed.
    processor = BatchProcessor("anthropic/claude-3-5-haiku-latest", BaseModelUser)
    before = {info.id for info in processor.list_batches(limit=100)}
    buffer = processor.create_batch_from_messages([[{"role": "user", "content": "Hi"}]])
    sandbox.faults = Faults(seed=1, http_500_rate=0.5, completion_delay=TEST_COMPLETION_DELAY)
    with pytest.raises(ProviderUnavailable):
        processor.submit_batch(buffer)
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY)
    assert {info.id for info in processor.list_batches(limit=100)} == before


class BaseModelUser(BaseModel):
    name: str
