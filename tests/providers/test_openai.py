"""The OpenAI provider: request lines, result lines (real ones included), the SDK boundary, and
end-to-end runs through the official ``openai`` SDK against the sandbox."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import openai
import orjson
import pytest
from openai.lib._pydantic import to_strict_json_schema
from openai.types import Batch
from pydantic import BaseModel, Field, SecretStr

from batchline.batching import (
    BatchError,
    BatchProcessor,
    BatchStatus,
    BatchSuccess,
    ErrorType,
    extract_results,
    filter_successful,
)
from batchline.batching.options import RequestOptions
from batchline.batching.providers import openai as openai_provider
from batchline.batching.providers import provider_class
from batchline.batching.providers.openai import (
    OpenAIProvider,
    is_reasoning_model,
    split_lines,
    translate_errors,
)
from batchline.config import Settings, get_settings
from batchline.errors import (
    BatchNotFoundError,
    ConfigurationError,
    InvalidRequestError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from batchline.sandbox import FakeModel, Sandbox
from tests.conftest import REAL_OUTPUTS
from tests.providers.contract import (
    ProviderContract,
    conversations,
    faults,
    wait_until_terminal,
)
from tests.providers.models import Profile, User

#: A port nothing listens on: a call that reached the network would fail with a connection error.
UNREACHABLE = "http://127.0.0.1:9/v1"

REAL_FILES = sorted(REAL_OUTPUTS.glob("openai_*.jsonl"))
REAL_LINES = [
    (path, number, line)
    for path in REAL_FILES
    for number, line in enumerate(path.read_bytes().splitlines(), start=1)
    if line.strip()
]


def offline_provider(model: str = "gpt-4.1-mini", **options: Any) -> OpenAIProvider:
    """A provider whose every network call would fail loudly, to prove none is made."""
    settings = Settings(openai_api_key=SecretStr("sk-test"), openai_base_url=UNREACHABLE)
    return OpenAIProvider(model, settings, **options)


def encode_one(
    provider: OpenAIProvider,
    response_model: type[BaseModel] = User,
    options: RequestOptions | None = None,
    custom_id: str = "request-0",
    messages: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    encode = provider.line_encoder(response_model, options or RequestOptions(max_tokens=200))
    line = encode(custom_id, messages or [{"role": "user", "content": "Alice is 28."}])
    decoded: dict[str, Any] = orjson.loads(line)
    return decoded


def result_line(message: dict[str, Any], finish_reason: str = "stop", **extra: Any) -> bytes:
    """An output-file line shaped like the real ones, around one chat message."""
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1740390883,
        "model": "gpt-4.1-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }
    line = {
        "id": "batch_req_1",
        "custom_id": "request-7",
        "response": {"status_code": 200, "request_id": "abc", "body": body},
        "error": None,
        **extra,
    }
    return orjson.dumps(line)


class Debate(BaseModel):
    """The response model behind ``openai_output_1.jsonl`` (see the README there)."""

    class Speaker(BaseModel):
        name: str
        role: str
        party: str
        constituency: str

    class Contribution(BaseModel):
        point: str
        keywords: list[str]
        context: str

    class SpeakerPoints(BaseModel):
        speaker: Debate.Speaker
        contributions: list[Debate.Contribution]

    analysis: str
    speaker_points: list[SpeakerPoints]


class Tagged(BaseModel):
    """Defaults, optionals and a nested model with its own default: strict mode's hard cases."""

    label: str = "none"
    weight: float | None = None
    profile: Profile | None = None
    notes: list[str] = Field(default_factory=list)


# -- request lines ------------------------------------------------------------------------------
def test_request_line_is_a_chat_completion_batch_request() -> None:
    line = encode_one(offline_provider(), options=RequestOptions(max_tokens=200, temperature=0.1))
    assert line["custom_id"] == "request-0"
    assert line["method"] == "POST"
    assert line["url"] == "/v1/chat/completions"
    body = line["body"]
    assert body["model"] == "gpt-4.1-mini"
    assert body["messages"] == [{"role": "user", "content": "Alice is 28."}]
    assert body["max_tokens"] == 200
    assert body["temperature"] == 0.1
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "User"
    assert body["response_format"]["json_schema"]["strict"] is True


@pytest.mark.parametrize("response_model", [User, Profile, Tagged, Debate])
def test_schema_on_the_wire_equals_the_sdks_strict_schema(response_model: type[BaseModel]) -> None:
    body = encode_one(offline_provider(), response_model)["body"]
    assert body["response_format"]["json_schema"]["schema"] == to_strict_json_schema(response_model)


def test_lines_are_single_lines_even_with_line_separators_in_messages() -> None:
    text = "first\nsecond\u2028third \u00e9 \U0001f600"
    encode = offline_provider().line_encoder(User, RequestOptions())
    line = encode("id-1", [{"role": "user", "content": text}])
    assert b"\n" not in line
    assert orjson.loads(line)["body"]["messages"][0]["content"] == text


def test_every_line_differs_only_in_custom_id_and_messages() -> None:
    encode = offline_provider().line_encoder(Profile, RequestOptions(max_tokens=50, temperature=0))
    first = orjson.loads(encode("a", [{"role": "user", "content": "one"}]))
    second = orjson.loads(encode("b", [{"role": "system", "content": "s"}, {"role": "user"}]))
    for line in (first, second):
        line.pop("custom_id")
        line["body"].pop("messages")
    assert first == second


@pytest.mark.parametrize(
    "model",
    ["o1", "o1-2024-12-17", "o3-mini", "o4-mini", "gpt-5", "gpt-5-nano", "gpt-5.1", "ft:o4-mini:x"],
)
def test_reasoning_models_get_max_completion_tokens_and_no_temperature(model: str) -> None:
    options = RequestOptions(max_tokens=300, temperature=0.1)
    body = encode_one(offline_provider(model), options=options)["body"]
    assert body["max_completion_tokens"] == 300
    assert "max_tokens" not in body
    assert "temperature" not in body


@pytest.mark.parametrize("model", ["gpt-4.1-mini", "gpt-4o", "gpt-3.5-turbo", "omni-moderation"])
def test_other_models_keep_max_tokens_and_temperature(model: str) -> None:
    assert not is_reasoning_model(model)
    body = encode_one(offline_provider(model), options=RequestOptions(100, 0.5))["body"]
    assert (body["max_tokens"], body["temperature"]) == (100, 0.5)
    assert "max_completion_tokens" not in body


def test_temperature_none_is_left_out() -> None:
    body = encode_one(offline_provider(), options=RequestOptions(temperature=None))["body"]
    assert "temperature" not in body


def test_tools_mode_forces_one_strict_function_tool() -> None:
    body = encode_one(offline_provider(output_mode="tools"), Profile)["body"]
    assert "response_format" not in body
    [tool] = body["tools"]
    assert tool["type"] == "function"
    assert tool["function"]["name"] == "Profile"
    assert tool["function"]["strict"] is True
    assert tool["function"]["parameters"] == to_strict_json_schema(Profile)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Profile"}}
    assert body["parallel_tool_calls"] is False


def test_tools_mode_leaves_out_parallel_tool_calls_for_reasoning_models() -> None:
    body = encode_one(offline_provider("o4-mini", output_mode="tools"))["body"]
    assert "parallel_tool_calls" not in body
    assert body["tool_choice"]["function"]["name"] == "User"


def test_extra_options_go_into_every_body() -> None:
    options = RequestOptions(max_tokens=10, extra={"top_p": 0.9, "seed": 7, "user": "u1"})
    body = encode_one(offline_provider(), options=options)["body"]
    assert (body["top_p"], body["seed"], body["user"]) == (0.9, 7, "u1")


def test_an_explicit_token_key_in_extras_replaces_the_default_one() -> None:
    options = RequestOptions(max_tokens=10, extra={"max_completion_tokens": 64})
    body = encode_one(offline_provider("gpt-4.1-mini"), options=options)["body"]
    assert body["max_completion_tokens"] == 64
    assert "max_tokens" not in body


def test_provider_options_reach_the_provider_through_the_registry() -> None:
    cls = provider_class("openai")
    assert cls is OpenAIProvider
    assert cls("gpt-4.1-mini", Settings(), output_mode="tools").mode == "tools"


# -- bad inputs are refused before any network call ------------------------------------------------
def test_unencodable_messages_are_refused_naming_the_request() -> None:
    encode = offline_provider().line_encoder(User, RequestOptions())
    with pytest.raises(InvalidRequestError, match="request-3"):
        encode("request-3", [{"role": "user", "content": object()}])


@pytest.mark.parametrize("key", [None, "", "   "])
def test_missing_or_empty_key_names_the_env_var(key: str | None) -> None:
    settings = Settings(
        openai_api_key=SecretStr(key) if key is not None else None, openai_base_url=UNREACHABLE
    )
    provider = OpenAIProvider("gpt-4.1-mini", settings)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY is not set"):
        provider.check_credentials()
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        provider.get("batch_1")


@pytest.mark.parametrize(
    ("metadata", "match"),
    [
        ({f"k{i}": "v" for i in range(17)}, "at most 16"),
        ({"k" * 65: "v"}, "1 to 64"),
        ({"": "v"}, "1 to 64"),
        ({"job": "v" * 513}, "513 characters"),
        ({"shard": 3}, "must be strings"),
    ],
)
def test_metadata_openai_would_refuse_is_refused_before_upload(
    metadata: dict[str, Any], match: str, tmp_path: Path
) -> None:
    source = (tmp_path / "requests.jsonl").open("w+b")
    with source, pytest.raises(InvalidRequestError, match=match):
        offline_provider().submit(source, metadata)


@pytest.mark.parametrize("call", ["get", "cancel", "iter_result_lines"])
def test_empty_batch_ids_are_refused(call: str) -> None:
    with pytest.raises(InvalidRequestError, match="batch_id"):
        list(getattr(offline_provider(), call)("") or [])


def test_non_positive_list_limits_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="limit"):
        offline_provider().list(limit=0)


# -- result lines ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "number", "line"),
    REAL_LINES,
    ids=[f"{path.stem}:{number}" for path, number, _ in REAL_LINES],
)
def test_every_real_result_line_is_read(path: Path, number: int, line: bytes) -> None:
    outcome = offline_provider().parse_line(line)
    assert outcome.custom_id == orjson.loads(line)["custom_id"]
    if "errors" in path.name:
        assert outcome.error_type == ErrorType.PROVIDER_ERROR
        assert outcome.provider_code == "unsupported_parameter"
        assert "HTTP 400 invalid_request_error" in outcome.error_message
        assert "Unsupported parameter" in outcome.error_message
    else:
        assert outcome.error_type is None
        assert outcome.text
        assert outcome.usage is not None
        assert outcome.usage["total_tokens"] > 0


def test_real_structured_output_validates_into_the_model() -> None:
    results = BatchProcessor("openai/gpt-4o", Debate).parse_results(
        REAL_OUTPUTS / "openai_output_1.jsonl"
    )
    assert len(results) == 2
    assert all(isinstance(r, BatchSuccess) for r in results)
    first = results[0]
    assert isinstance(first, BatchSuccess)
    assert first.result.speaker_points[0].speaker.name == "Charlie Dewhirst"
    assert first.usage == {
        "input_tokens": 1223,
        "output_tokens": 1012,
        "total_tokens": 2235,
        "cached_input_tokens": 0,
        "reasoning_tokens": 0,
    }


def test_real_reasoning_token_counts_are_kept() -> None:
    line = (REAL_OUTPUTS / "openai_output_2.jsonl").read_bytes().splitlines()[0]
    usage = offline_provider().parse_line(line).usage
    assert usage is not None
    assert usage["reasoning_tokens"] == 1408
    assert usage["output_tokens"] == 1421


def test_real_free_text_answers_become_invalid_json_errors() -> None:
    results = BatchProcessor("openai/gpt-5-nano", User).parse_results(
        REAL_OUTPUTS / "openai_output_2.jsonl"
    )
    assert len(results) == 30
    assert {r.error_type for r in results if isinstance(r, BatchError)} == {ErrorType.INVALID_JSON}


def test_real_error_file_keeps_the_providers_code_and_message() -> None:
    results = BatchProcessor("openai/gpt-4.1-mini", User).parse_results(
        REAL_OUTPUTS / "openai_errors_1.jsonl"
    )
    assert len(results) == 3
    for result in results:
        assert isinstance(result, BatchError)
        assert result.error_type == ErrorType.PROVIDER_ERROR
        assert result.provider_code == "unsupported_parameter"
        assert "text.format" in result.error_message
        assert result.raw_data["response"]["status_code"] == 400


def test_content_answer_is_returned_as_text_with_usage() -> None:
    outcome = offline_provider().parse_line(
        result_line({"role": "assistant", "content": '{"name": "Al", "age": 3}', "refusal": None})
    )
    assert (outcome.custom_id, outcome.text, outcome.error_type) == (
        "request-7",
        '{"name": "Al", "age": 3}',
        None,
    )
    assert outcome.usage == {
        "input_tokens": 12,
        "output_tokens": 7,
        "total_tokens": 19,
        "cached_input_tokens": 0,
        "reasoning_tokens": 0,
    }


def test_tool_call_arguments_are_the_answer() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "User", "arguments": '{"name": "Bo", "age": 35}'},
            }
        ],
    }
    outcome = offline_provider(output_mode="tools").parse_line(result_line(message, "tool_calls"))
    assert outcome.text == '{"name": "Bo", "age": 35}'
    assert outcome.error_type is None


@pytest.mark.parametrize(
    ("message", "finish_reason", "error_type", "words"),
    [
        ({"content": None, "refusal": "I can't help with that."}, "stop", "refusal", "can't help"),
        ({"content": None}, "content_filter", "refusal", "content filter"),
        ({"content": '{"name": "Al'}, "length", "truncated", "token limit"),
        ({"content": None}, "stop", "provider_error", "neither content nor a tool call"),
    ],
)
def test_answers_that_are_not_answers_become_typed_errors(
    message: dict[str, Any], finish_reason: str, error_type: str, words: str
) -> None:
    line = result_line({"role": "assistant", **message}, finish_reason)
    outcome = offline_provider().parse_line(line)
    assert outcome.error_type == error_type
    assert words in outcome.error_message
    assert outcome.text is None
    assert outcome.raw["custom_id"] == "request-7"


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        ("batch_expired", ErrorType.EXPIRED),
        ("batch_cancelled", ErrorType.CANCELLED),
        ("server_error", ErrorType.PROVIDER_ERROR),
    ],
)
def test_requests_that_never_ran_carry_the_reason(code: str, error_type: ErrorType) -> None:
    line = orjson.dumps(
        {
            "id": "batch_req_2",
            "custom_id": "request-9",
            "response": None,
            "error": {"code": code, "message": "This request could not be executed."},
        }
    )
    outcome = offline_provider().parse_line(line)
    assert (outcome.custom_id, outcome.error_type, outcome.provider_code) == (
        "request-9",
        error_type,
        code,
    )
    assert "could not be executed" in outcome.error_message


def test_server_errors_inside_the_error_file_keep_status_and_type() -> None:
    line = orjson.dumps(
        {
            "custom_id": "request-1",
            "response": {
                "status_code": 500,
                "body": {"error": {"message": "boom", "type": "server_error", "code": None}},
            },
            "error": None,
        }
    )
    outcome = offline_provider().parse_line(line)
    assert outcome.error_type == ErrorType.PROVIDER_ERROR
    assert outcome.error_message == "HTTP 500 server_error: boom"
    assert outcome.provider_code == "server_error"


@pytest.mark.parametrize(
    "line",
    [b"[1, 2]", b'{"response": null, "error": null}', b'{"custom_id": "x"}', b"{not json"],
    ids=["array", "no custom id", "no response or error", "not json"],
)
def test_unreadable_lines_raise_value_error(line: bytes) -> None:
    with pytest.raises(ValueError):
        offline_provider().parse_line(line)


def test_mixed_output_and_error_lines_each_come_back_once() -> None:
    content = b"\n".join(
        [
            *(REAL_OUTPUTS / "openai_output_3.jsonl").read_bytes().splitlines(),
            *(REAL_OUTPUTS / "openai_errors_1.jsonl").read_bytes().splitlines(),
            result_line({"role": "assistant", "content": '{"name": "Al", "age": 3}'}),
        ]
    )
    results = BatchProcessor("openai/gpt-4.1-mini", User).parse_results(content)
    assert len(results) == 6
    assert [r.custom_id for r in results if isinstance(r, BatchSuccess)] == ["request-7"]
    errors = {r.error_type for r in results if isinstance(r, BatchError)}
    assert errors == {ErrorType.INVALID_JSON, ErrorType.PROVIDER_ERROR}


def test_split_lines_rebuilds_lines_whatever_the_chunking() -> None:
    lines = [b'{"a": "x\xe2\x80\xa8y"}', b"{}", b'{"b": ' + b"7" * 5000 + b"}", b'{"c": 1}']
    stream = b"\n".join(lines) + b"\n\n\r\n"
    rng = random.Random(3)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(stream)), 6))
        chunks = [stream[i:j] for i, j in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert list(split_lines(chunks)) == lines
    assert list(split_lines([b'{"last": true}'])) == [b'{"last": true}']


# -- batch objects --------------------------------------------------------------------------------
def sdk_batch(status: str, **fields: Any) -> Batch:
    base: dict[str, Any] = {
        "id": "batch_abc",
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "input_file_id": "file-1",
        "completion_window": "24h",
        "status": status,
        "created_at": 1_700_000_000,
    }
    # Built the way the SDK builds what it receives: without rejecting unknown values.
    return Batch.construct(**{**base, **fields})


@pytest.mark.parametrize(
    "status",
    [
        "validating",
        "failed",
        "in_progress",
        "finalizing",
        "completed",
        "expired",
        "cancelling",
        "cancelled",
    ],
)
def test_every_openai_status_maps_onto_batchlines(status: str) -> None:
    info = offline_provider().to_info(sdk_batch(status))
    assert info.status == BatchStatus(status)
    assert info.provider_status == status


def test_an_unknown_future_status_keeps_being_polled() -> None:
    info = offline_provider().to_info(sdk_batch("paused"))
    assert info.status == BatchStatus.IN_PROGRESS
    assert not info.status.is_terminal
    assert info.provider_status == "paused"


def test_batch_info_carries_counts_times_and_metadata() -> None:
    batch = sdk_batch(
        "in_progress",
        request_counts={"total": 10, "completed": 6, "failed": 1},
        expires_at=1_700_086_400,
        metadata={"batchline_job": "job-1"},
    )
    info = offline_provider().to_info(batch)
    assert info.request_counts.to_dict() == {"total": 10, "completed": 6, "failed": 1, "pending": 3}
    assert info.created_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert info.expires_at is not None and info.expires_at.tzinfo is UTC
    assert info.completed_at is None
    assert info.metadata == {"batchline_job": "job-1"}
    assert info.raw["id"] == "batch_abc"


def test_a_failed_batch_explains_why() -> None:
    errors = {
        "object": "list",
        "data": [
            {"code": "invalid_json_line", "message": "not JSON", "line": 3, "param": None},
            {"code": "empty_file", "message": "no lines", "line": None, "param": None},
        ],
    }
    info = offline_provider().to_info(sdk_batch("failed", errors=errors, failed_at=1_700_000_100))
    assert info.error == "line 3: not JSON (invalid_json_line); no lines (empty_file)"
    assert info.completed_at == datetime.fromtimestamp(1_700_000_100, tz=UTC)


# -- the SDK boundary -----------------------------------------------------------------------------
def status_error(status: int, body: dict[str, Any]) -> openai.APIStatusError:
    """The exception the SDK raises for an HTTP error (its ``body`` is the ``error`` object)."""
    request = httpx2.Request("GET", "https://api.openai.com/v1/batches/b")
    response = httpx2.Response(status, request=request, json={"error": body})
    return openai.APIStatusError(f"Error code: {status}", response=response, body=body)


@pytest.mark.parametrize(
    ("status", "family"),
    [
        (400, ProviderRejected),
        (401, ProviderAuthError),
        (404, BatchNotFoundError),
        (429, ProviderRateLimited),
        (500, ProviderUnavailable),
        (503, ProviderUnavailable),
    ],
)
def test_sdk_status_errors_become_batchline_errors(
    status: int, family: type[ProviderError]
) -> None:
    error = status_error(status, {"message": "nope", "type": "some_type", "code": "some_code"})
    with pytest.raises(family) as raised, translate_errors():
        raise error
    assert (raised.value.status_code, raised.value.code, raised.value.message) == (
        status,
        "some_code",
        "nope",
    )
    assert raised.value.provider == "openai"


def test_the_error_type_stands_in_for_a_missing_code() -> None:
    error = status_error(429, {"message": "slow down", "type": "requests", "code": None})
    with pytest.raises(ProviderRateLimited) as raised, translate_errors():
        raise error
    assert raised.value.code == "requests"


@pytest.mark.parametrize(
    "error",
    [
        openai.APIConnectionError(request=httpx2.Request("GET", "https://x")),
        openai.APITimeoutError(request=httpx2.Request("GET", "https://x")),
        httpx2.RemoteProtocolError("peer closed connection mid-stream"),
    ],
    ids=["connection", "timeout", "dropped stream"],
)
def test_lost_connections_become_provider_unavailable(error: Exception) -> None:
    with pytest.raises(ProviderUnavailable), translate_errors():
        raise error


# -- end to end, through the official SDK against the sandbox -------------------------------------
class TestOpenAIContract(ProviderContract):
    model = "openai/gpt-4.1-mini"

    def missing_batch_id(self, sandbox: Sandbox) -> str:
        return "batch_missing"


def sandbox_provider(model: str = "gpt-4.1-mini", **options: Any) -> OpenAIProvider:
    """A provider configured from the environment the ``sandbox`` fixture exported."""
    get_settings.cache_clear()
    return OpenAIProvider(model, get_settings(), **options)


def submit_and_wait(
    processor: BatchProcessor[Any], count: int, **submit: Any
) -> tuple[str, dict[str, Any]]:
    buffer = processor.create_batch_from_messages(conversations(count), max_tokens=200)
    batch_id = processor.submit_batch(buffer, **submit)
    return batch_id, wait_until_terminal(processor, batch_id)


def test_metadata_comes_back_and_finds_the_batch_again(sandbox: Sandbox) -> None:
    processor = BatchProcessor("openai/gpt-4.1-mini", User)
    job = f"job-{uuid.uuid4().hex}"
    batch_id = processor.submit_batch(
        processor.create_batch_from_messages(conversations(1)),
        metadata={"batchline_job": job, "shard": "0"},
    )
    assert processor.get_batch_status(batch_id)["metadata"] == {"batchline_job": job, "shard": "0"}
    found = processor.provider.find_by_metadata("batchline_job", job)
    assert [info.id for info in found] == [batch_id]
    assert processor.provider.find_by_metadata("batchline_job", "job-nobody") == []


def test_completed_batch_with_only_an_error_file_returns_every_error(sandbox: Sandbox) -> None:
    sandbox.faults = faults(error_rate=1.0)
    processor = BatchProcessor("openai/gpt-4.1-mini", User)
    batch_id, status = submit_and_wait(processor, 4)
    assert status["status"] == "completed"
    raw = processor.get_batch(batch_id).raw
    assert raw["output_file_id"] is None
    assert raw["error_file_id"]
    results = processor.retrieve_results(batch_id)
    assert sorted(r.custom_id for r in results) == [f"request-{i}" for i in range(4)]
    for result in results:
        assert isinstance(result, BatchError)
        assert result.error_type == ErrorType.PROVIDER_ERROR
        assert result.provider_code
        assert result.error_message.startswith(("HTTP 500", "HTTP 400"))


def test_large_result_files_stream_line_by_line(sandbox: Sandbox) -> None:
    processor = BatchProcessor("openai/gpt-4.1-mini", Profile)
    batch_id, _ = submit_and_wait(processor, 300)
    lines = list(processor.provider.iter_result_lines(batch_id))
    assert sum(len(line) for line in lines) > 4 * openai_provider.STREAM_CHUNK_BYTES
    assert len(lines) == 300
    assert all(b"\n" not in line for line in lines)
    assert len(filter_successful(processor.retrieve_results(batch_id))) == 300


def test_tools_mode_runs_end_to_end(sandbox: Sandbox) -> None:
    bodies: list[dict[str, Any]] = []
    sandbox.model = FakeModel(lambda custom_id, body: bodies.append(body))
    processor = BatchProcessor("openai/gpt-4.1-mini", Profile, output_mode="tools")
    batch_id, status = submit_and_wait(processor, 3)
    assert status["status"] == "completed"
    assert all(body["tool_choice"]["function"]["name"] == "Profile" for body in bodies)
    profiles = extract_results(processor.retrieve_results(batch_id))
    assert len(profiles) == 3
    assert all(isinstance(profile, Profile) for profile in profiles)


def test_reasoning_model_requests_run_end_to_end(sandbox: Sandbox) -> None:
    bodies: list[dict[str, Any]] = []
    sandbox.model = FakeModel(lambda custom_id, body: bodies.append(body))
    processor = BatchProcessor("openai/gpt-5-nano", User)
    batch_id, status = submit_and_wait(processor, 2)
    assert status["status"] == "completed"
    assert [body["max_completion_tokens"] for body in bodies] == [200, 200]
    assert not [body for body in bodies if "temperature" in body or "max_tokens" in body]
    assert len(extract_results(processor.retrieve_results(batch_id))) == 2


def test_a_request_file_with_another_extension_is_uploaded_as_jsonl(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    processor = BatchProcessor("openai/gpt-4.1-mini", User)
    path = tmp_path / "requests.txt"
    processor.create_batch_from_messages(conversations(2), file_path=path)
    batch_id = processor.submit_batch(path)
    assert wait_until_terminal(processor, batch_id)["status"] == "completed"


def test_batch_times_are_utc_and_the_end_is_recorded(sandbox: Sandbox) -> None:
    processor = BatchProcessor("openai/gpt-4.1-mini", User)
    batch_id, _ = submit_and_wait(processor, 1)
    info = processor.get_batch(batch_id)
    assert info.created_at is not None and info.created_at.tzinfo is UTC
    assert info.completed_at is not None and info.completed_at >= info.created_at
    assert info.expires_at is not None and info.expires_at > info.created_at
    assert info.request_counts.pending == 0


def test_an_empty_key_in_the_environment_names_the_env_var(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    provider = sandbox_provider()
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        provider.list()
