"""Gemini on Vertex AI: request lines, result lines, job mapping, and the whole path through
google-genai and google-cloud-storage against the sandbox (Vertex emulation + GCS emulator)."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[import-untyped]
from google.genai.types import JobState
from pydantic import BaseModel

from batchline.batching import BatchError, BatchProcessor, BatchStatus, BatchSuccess, ErrorType
from batchline.batching.providers import RequestOptions
from batchline.batching.providers.google import GoogleProvider, iter_lines
from batchline.batching.providers.google_jobs import (
    STATUS_MAP,
    job_identity,
    label_key,
    label_value,
    metadata_from_display_name,
)
from batchline.batching.schema import gemini_response_schema
from batchline.config import Settings, get_settings
from batchline.errors import (
    BatchNotFoundError,
    ConfigurationError,
    InvalidRequestError,
    ProviderUnavailable,
)
from batchline.sandbox import Faults, Sandbox
from tests.conftest import REAL_OUTPUTS, TEST_COMPLETION_DELAY
from tests.providers.contract import ProviderContract, conversations, wait_until_terminal
from tests.providers.models import Profile, User

MODEL = "google/gemini-2.5-flash"

#: Every line of the real Vertex prediction files, named ``file:line`` for test ids.
REAL_VERTEX_LINES: dict[str, bytes] = {
    f"{path.name}:{number}": line
    for path in sorted(REAL_OUTPUTS.glob("vertex_*.jsonl"))
    for number, line in enumerate(path.read_bytes().splitlines(), start=1)
    if line.strip()
}


class Judgement(BaseModel):
    """The answer shape of the real ``vertex_predictions_1.jsonl`` lines."""

    is_prompt_injection: bool
    confidence: float
    severity: str
    analysis: str


def offline_settings(**overrides: Any) -> Settings:
    """Settings that never point at a live endpoint: a closed local port catches any call."""
    values: dict[str, Any] = {
        "google_cloud_project": "proj",
        "gcs_bucket": "bucket",
        "google_access_token": "token",
        "google_application_credentials": None,
        "google_vertex_base_url": "http://127.0.0.1:9",
        "storage_emulator_host": "http://127.0.0.1:9",
    }
    values.update(overrides)
    return Settings(**values)


def offline_provider(**overrides: Any) -> GoogleProvider:
    return GoogleProvider("gemini-2.5-flash", offline_settings(**overrides))


def encode(
    messages: list[dict[str, Any]],
    custom_id: str = "request-0",
    model: type[BaseModel] = User,
    **options: Any,
) -> dict[str, Any]:
    encoder = offline_provider().line_encoder(model, RequestOptions(**options))
    decoded: dict[str, Any] = orjson.loads(encoder(custom_id, messages))
    return decoded


def prediction(response: dict[str, Any] | None = None, **fields: Any) -> bytes:
    line: dict[str, Any] = {"key": "request-7", "status": "", "request": {"contents": []}}
    if response is not None:
        line["response"] = response
    line.update(fields)
    return orjson.dumps(line)


def candidate(text: str = '{"name": "Ann", "age": 3}', **fields: Any) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
            | fields
        ]
    }


# -- request lines ---------------------------------------------------------------------------------
def test_request_line_puts_the_id_beside_a_gemini_request() -> None:
    line = encode(
        [
            {"role": "system", "content": "Extract user information from text."},
            {"role": "user", "content": "Hi, I'm Alice and I'm 28 years old."},
        ],
        max_tokens=200,
        temperature=0.1,
    )
    assert line == {
        "key": "request-0",
        "request": {
            "contents": [
                {"role": "user", "parts": [{"text": "Hi, I'm Alice and I'm 28 years old."}]}
            ],
            "systemInstruction": {"parts": [{"text": "Extract user information from text."}]},
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": gemini_response_schema(User),
                "maxOutputTokens": 200,
                "temperature": 0.1,
            },
            "labels": {"custom_id": "request-0"},
        },
    }


def test_assistant_turns_become_model_turns_in_order() -> None:
    line = encode(
        [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": "second"},
        ]
    )
    contents = line["request"]["contents"]
    assert [(c["role"], c["parts"][0]["text"]) for c in contents] == [
        ("user", "first"),
        ("model", "reply"),
        ("user", "second"),
    ]
    assert "systemInstruction" not in line["request"]


def test_system_and_developer_messages_gather_into_one_system_instruction() -> None:
    line = encode(
        [
            {"role": "system", "content": "one"},
            {"role": "user", "content": "question"},
            {"role": "developer", "content": "two"},
        ]
    )
    assert line["request"]["systemInstruction"] == {"parts": [{"text": "one"}, {"text": "two"}]}


def test_text_content_part_lists_become_gemini_parts() -> None:
    line = encode([{"role": "user", "content": [{"type": "text", "text": "a"}, "b"]}])
    assert line["request"]["contents"][0]["parts"] == [{"text": "a"}, {"text": "b"}]


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param([{"role": "tool", "content": "x"}], id="unknown-role"),
        pytest.param([{"role": "system", "content": "only a system prompt"}], id="no-user-turn"),
        pytest.param([{"role": "user"}], id="no-content"),
        pytest.param([{"content": "x"}], id="no-role"),
        pytest.param(
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            id="image-part",
        ),
    ],
)
def test_conversations_gemini_cannot_take_are_refused(messages: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidRequestError):
        encode(messages)


def test_response_schema_is_the_openapi_subset_without_refs_or_extra_keys() -> None:
    schema = encode([{"role": "user", "content": "x"}], model=Profile)["request"][
        "generationConfig"
    ]["responseSchema"]
    text = orjson.dumps(schema).decode()
    assert "$ref" not in text
    assert "$defs" not in text
    assert "additionalProperties" not in text
    assert schema["type"] == "OBJECT"
    assert schema["properties"]["primary"]["nullable"] is True
    assert schema["properties"]["addresses"]["items"]["properties"]["city"]["type"] == "STRING"
    assert schema["properties"]["role"]["enum"] == ["admin", "member", "guest"]


def test_extra_options_go_to_generation_config_in_gemini_spelling() -> None:
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    request = encode(
        [{"role": "user", "content": "x"}],
        extra={"top_p": 0.9, "stop": ["END"], "safety_settings": safety},
    )["request"]
    assert request["generationConfig"]["topP"] == 0.9
    assert request["generationConfig"]["stopSequences"] == ["END"]
    assert request["safetySettings"] == safety
    assert "safetySettings" not in request["generationConfig"]


def test_temperature_is_left_out_when_not_given() -> None:
    config = encode([{"role": "user", "content": "x"}], temperature=None)["request"][
        "generationConfig"
    ]
    assert "temperature" not in config


def test_ids_that_are_not_label_values_travel_only_in_key() -> None:
    line = encode([{"role": "user", "content": "x"}], custom_id="Invoice #12/ÄB")
    assert line["key"] == "Invoice #12/ÄB"
    assert "labels" not in line["request"]


def test_user_labels_keep_the_custom_id_label_beside_them() -> None:
    labelled = encode([{"role": "user", "content": "x"}], extra={"labels": {"team": "ml"}})
    unlabelled = encode(
        [{"role": "user", "content": "x"}],
        custom_id="Not A Label",
        extra={"labels": {"team": "ml"}},
    )
    assert labelled["request"]["labels"] == {"team": "ml", "custom_id": "request-0"}
    assert unlabelled["request"]["labels"] == {"team": "ml"}


def test_request_custom_id_reads_the_key_of_a_built_line() -> None:
    provider = offline_provider()
    line = provider.line_encoder(User, RequestOptions())(
        "req-42", [{"role": "user", "content": "x"}]
    )
    assert provider.request_custom_id(line) == "req-42"


def test_request_file_built_by_the_processor_has_one_line_per_conversation(
    tmp_path: Path,
) -> None:
    processor = BatchProcessor(MODEL, User, settings=offline_settings())
    path = tmp_path / "requests.jsonl"
    processor.create_batch_from_messages(conversations(5), file_path=path)
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [line["key"] for line in lines] == [f"request-{i}" for i in range(5)]
    assert processor.check_limits(str(path)) == 5


# -- result lines: the real files ------------------------------------------------------------------
@pytest.mark.parametrize("where", list(REAL_VERTEX_LINES))
def test_every_real_vertex_line_parses_to_one_outcome(where: str) -> None:
    outcome = offline_provider().parse_line(REAL_VERTEX_LINES[where])
    assert outcome.custom_id.startswith("unkeyed-")
    assert (outcome.text is not None) != (outcome.error_type is not None)
    assert outcome.usage is not None
    assert outcome.usage["input_tokens"] > 0


def test_real_vertex_files_give_one_result_per_line_with_distinct_ids() -> None:
    assert len(REAL_VERTEX_LINES) == 5
    processor = BatchProcessor(MODEL, Judgement, settings=offline_settings())
    results = {}
    for path in sorted(REAL_OUTPUTS.glob("vertex_*.jsonl")):
        results[path.name] = processor.parse_results(path)
    judged = results["vertex_predictions_1.jsonl"]
    assert len(judged) == 3
    assert all(isinstance(r, BatchSuccess) for r in judged)
    assert [r.result.severity for r in judged if isinstance(r, BatchSuccess)] == [
        "HIGH",
        "NONE",
        "NONE",
    ]
    truncated, free_text = results["vertex_predictions_2.jsonl"]
    assert isinstance(truncated, BatchError)
    assert truncated.error_type == ErrorType.TRUNCATED
    assert truncated.provider_code == "MAX_TOKENS"
    assert isinstance(free_text, BatchError)
    assert free_text.error_type == ErrorType.INVALID_JSON
    all_ids = [r.custom_id for batch in results.values() for r in batch]
    assert len(set(all_ids)) == 5


def test_unkeyed_id_is_stable_for_the_same_line_with_or_without_newline() -> None:
    line = REAL_VERTEX_LINES["vertex_predictions_1.jsonl:1"]
    provider = offline_provider()
    assert provider.parse_line(line).custom_id == provider.parse_line(line + b"\n").custom_id
    assert provider.parse_line(line).custom_id == provider.parse_line(line.decode()).custom_id


# -- result lines: every branch --------------------------------------------------------------------
def test_key_names_the_result_whatever_the_field_order() -> None:
    line = b'{"response": {"candidates": []}, "status": "", "key": "k-1"}'
    assert offline_provider().parse_line(line).custom_id == "k-1"


def test_request_label_names_the_result_when_key_is_missing() -> None:
    line = orjson.dumps(
        {"status": "", "request": {"labels": {"custom_id": "from-label"}}, "response": candidate()}
    )
    assert offline_provider().parse_line(line).custom_id == "from-label"


def test_success_gives_the_answer_text_and_usage() -> None:
    response = candidate() | {
        "usageMetadata": {
            "promptTokenCount": 11,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 7,
            "cachedContentTokenCount": 4,
            "totalTokenCount": 23,
        }
    }
    outcome = offline_provider().parse_line(prediction(response))
    assert outcome.custom_id == "request-7"
    assert outcome.text == '{"name": "Ann", "age": 3}'
    assert outcome.usage == {
        "input_tokens": 11,
        "output_tokens": 12,
        "cached_input_tokens": 4,
        "reasoning_tokens": 7,
        "total_tokens": 23,
    }


def test_thought_parts_are_left_out_and_text_parts_joined() -> None:
    response = candidate()
    response["candidates"][0]["content"]["parts"] = [
        {"text": "thinking about it", "thought": True},
        {"text": '{"name": "Ann", '},
        {"text": '"age": 3}'},
    ]
    assert offline_provider().parse_line(prediction(response)).text == '{"name": "Ann", "age": 3}'


def test_non_empty_status_is_a_provider_error_with_its_message() -> None:
    status = 'Bad Request: {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}'
    outcome = offline_provider().parse_line(prediction(status=status))
    assert outcome.error_type == ErrorType.PROVIDER_ERROR
    assert outcome.error_message == status
    assert outcome.raw["status"] == status


def test_status_object_keeps_its_code() -> None:
    outcome = offline_provider().parse_line(
        prediction(status={"code": 3, "message": "invalid argument"})
    )
    assert outcome.error_type == ErrorType.PROVIDER_ERROR
    assert (outcome.error_message, outcome.provider_code) == ("invalid argument", "3")


def test_max_tokens_finish_is_truncated() -> None:
    outcome = offline_provider().parse_line(prediction(candidate(finishReason="MAX_TOKENS")))
    assert (outcome.error_type, outcome.provider_code) == (ErrorType.TRUNCATED, "MAX_TOKENS")


@pytest.mark.parametrize(
    "reason", ["SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION"]
)
def test_blocking_finish_reasons_are_refusals(reason: str) -> None:
    response = {"candidates": [{"finishReason": reason}]}
    outcome = offline_provider().parse_line(prediction(response))
    assert (outcome.error_type, outcome.provider_code) == (ErrorType.REFUSAL, reason)
    assert reason in outcome.error_message


def test_blocked_prompt_is_a_refusal_with_googles_message() -> None:
    response = {"promptFeedback": {"blockReason": "SAFETY", "blockReasonMessage": "blocked!"}}
    outcome = offline_provider().parse_line(prediction(response))
    assert outcome.error_type == ErrorType.REFUSAL
    assert outcome.error_message == "SAFETY: blocked!"


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(None, id="no-response"),
        pytest.param({"candidates": []}, id="no-candidates"),
        pytest.param({"candidates": [{"finishReason": "OTHER"}]}, id="other-without-text"),
    ],
)
def test_lines_without_an_answer_are_provider_errors(response: dict[str, Any] | None) -> None:
    outcome = offline_provider().parse_line(prediction(response))
    assert outcome.error_type == ErrorType.PROVIDER_ERROR
    assert outcome.error_message


@pytest.mark.parametrize("line", [b"not json", b"[1, 2]", b'"text"'])
def test_unreadable_lines_raise_value_error(line: bytes) -> None:
    with pytest.raises(ValueError):
        offline_provider().parse_line(line)


# -- jobs, offline ---------------------------------------------------------------------------------
@pytest.mark.parametrize("state", list(JobState), ids=lambda s: s.value)
def test_every_sdk_job_state_has_a_batchline_status(state: JobState) -> None:
    assert state.value in STATUS_MAP


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("JOB_STATE_QUEUED", BatchStatus.VALIDATING),
        ("JOB_STATE_PAUSED", BatchStatus.IN_PROGRESS),
        ("JOB_STATE_PARTIALLY_SUCCEEDED", BatchStatus.COMPLETED),
        ("JOB_STATE_CANCELLING", BatchStatus.CANCELLING),
        ("JOB_STATE_EXPIRED", BatchStatus.EXPIRED),
    ],
)
def test_vertex_states_map_to_the_shared_vocabulary(state: str, status: BatchStatus) -> None:
    assert STATUS_MAP[state] is status


def test_metadata_travels_exactly_in_the_display_name_and_sanitised_in_labels() -> None:
    metadata = {"batchline_job": "3f2a9c", "Shard Index": "Two & more=yes"}
    display_name, labels = job_identity(metadata)
    assert metadata_from_display_name(display_name) == metadata
    assert labels == {"batchline_job": "3f2a9c", "shard_index": "two___more_yes"}


def test_foreign_display_names_carry_no_metadata() -> None:
    assert metadata_from_display_name("genai_batch_job_20250101") == {}
    assert metadata_from_display_name(None) == {}


def test_metadata_too_long_for_a_display_name_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="display name"):
        job_identity({"note": "x" * 200})


@pytest.mark.parametrize(
    ("key", "expected"), [("Job", "job"), ("9lives", "k9lives"), ("a.b/c", "a_b_c")]
)
def test_label_keys_start_with_a_letter_and_use_the_allowed_characters(
    key: str, expected: str
) -> None:
    assert label_key(key) == expected


def test_label_values_are_cut_to_63_characters() -> None:
    assert label_value("A" * 80) == "a" * 63


def test_iter_lines_reassembles_lines_split_across_blocks() -> None:
    data = b'{"a": 1}\n\n{"b": 22}\n{"c": 333}'
    assert list(iter_lines(io.BytesIO(data), block=4)) == [b'{"a": 1}', b'{"b": 22}', b'{"c": 333}']


# -- configuration errors, before any network call -------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "env_var"),
    [
        ({"google_cloud_project": None}, "GOOGLE_CLOUD_PROJECT"),
        ({"gcs_bucket": None}, "GCS_BUCKET"),
        (
            {"google_access_token": None, "google_application_credentials": "/no/such/key.json"},
            "GOOGLE_APPLICATION_CREDENTIALS",
        ),
    ],
)
def test_missing_setting_is_named_before_any_upload(
    overrides: dict[str, Any], env_var: str
) -> None:
    processor = BatchProcessor(MODEL, User, settings=offline_settings(**overrides))
    buffer = processor.create_batch_from_messages(conversations(1))
    with pytest.raises(ConfigurationError, match=env_var):
        processor.submit_batch(buffer)


def test_a_name_that_is_not_a_vertex_job_is_not_found_without_a_call() -> None:
    with pytest.raises(BatchNotFoundError, match="batchPredictionJobs"):
        offline_provider().get("batch_abc123")


def test_unreachable_vertex_is_a_retryable_error() -> None:
    name = "projects/proj/locations/us-central1/batchPredictionJobs/1"
    with pytest.raises(ProviderUnavailable):
        offline_provider().get(name)


# -- against the sandbox ---------------------------------------------------------------------------
class TestGoogleContract(ProviderContract):
    model = MODEL

    def missing_batch_id(self, sandbox: Sandbox) -> str:
        return f"projects/{sandbox.project}/locations/{sandbox.location}/batchPredictionJobs/123"


def gcs_client(sandbox: Sandbox) -> storage.Client:
    return storage.Client(
        project=sandbox.project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": sandbox.gcs_url},
    )


def submit(
    processor: BatchProcessor[Any], count: int, metadata: dict[str, str] | None = None
) -> str:
    return processor.submit_batch(
        processor.create_batch_from_messages(conversations(count)), metadata
    )


def test_input_is_uploaded_under_batchline_and_output_goes_beside_it(sandbox: Sandbox) -> None:
    processor = BatchProcessor(MODEL, User)
    buffer = processor.create_batch_from_messages(conversations(2))
    assert isinstance(buffer, io.BytesIO)
    batch_id = processor.submit_batch(buffer)
    raw = processor.get_batch(batch_id).raw
    (input_uri,) = raw["src"]["gcs_uri"]
    folder = input_uri.removesuffix("/input.jsonl")
    assert input_uri.startswith(f"gs://{sandbox.bucket}/batchline/")
    assert raw["dest"]["gcs_uri"] == f"{folder}/output"
    blob_name = input_uri.removeprefix(f"gs://{sandbox.bucket}/")
    assert gcs_client(sandbox).bucket(sandbox.bucket).blob(blob_name).download_as_bytes() == (
        buffer.getvalue()
    )


def test_metadata_round_trips_and_finds_its_batch(sandbox: Sandbox) -> None:
    processor = BatchProcessor(MODEL, User)
    job_id = uuid.uuid4().hex
    metadata = {"batchline_job": job_id, "Shard": "Part 2"}
    batch_id = submit(processor, 1, metadata)
    submit(processor, 1, {"batchline_job": uuid.uuid4().hex, "Shard": "Part 2"})
    assert processor.get_batch(batch_id).metadata == metadata
    provider = processor.provider
    assert isinstance(provider, GoogleProvider)
    found = provider.find_by_metadata("batchline_job", job_id)
    assert [info.id for info in found] == [batch_id]
    assert provider.find_by_metadata("Shard", "part 2") == []


def test_large_input_uploads_resumably_and_every_request_comes_back(sandbox: Sandbox) -> None:
    processor = BatchProcessor(MODEL, User)
    padding = "x" * 30_000
    messages = [[{"role": "user", "content": f"{i} {padding}"}] for i in range(300)]
    buffer = processor.create_batch_from_messages(messages)
    assert isinstance(buffer, io.BytesIO)
    assert len(buffer.getvalue()) > 8 * 1024 * 1024  # over the multipart limit
    batch_id = processor.submit_batch(buffer)
    assert wait_until_terminal(processor, batch_id)["status"] == "completed"
    ids = [f"request-{i}" for i in range(300)]
    results = list(processor.iter_results(batch_id, expected_ids=ids))
    assert sorted(r.custom_id for r in results) == sorted(ids)
    assert all(isinstance(r, BatchSuccess) for r in results)


def test_results_come_from_every_predictions_file_in_the_output_directory(
    sandbox: Sandbox,
) -> None:
    processor = BatchProcessor(MODEL, User)
    batch_id = submit(processor, 2)
    wait_until_terminal(processor, batch_id)
    directory = processor.get_batch(batch_id).raw["output_info"]["gcs_output_directory"]
    folder = directory.removeprefix(f"gs://{sandbox.bucket}/")
    bucket = gcs_client(sandbox).bucket(sandbox.bucket)
    extra = prediction(candidate(), key="request-extra")
    bucket.blob(f"{folder}/predictions_00002.jsonl").upload_from_string(extra)
    bucket.blob(f"{folder}/notes.txt").upload_from_string(b"not a result line")
    results = processor.retrieve_results(batch_id)
    assert sorted(r.custom_id for r in results) == ["request-0", "request-1", "request-extra"]


def test_job_that_failed_validation_has_no_result_lines(sandbox: Sandbox) -> None:
    from batchline.sandbox import BatchOutcome

    sandbox.faults = Faults(
        completion_delay=TEST_COMPLETION_DELAY, batch_outcome=BatchOutcome.FAIL_VALIDATION
    )
    processor = BatchProcessor(MODEL, User)
    batch_id = submit(processor, 1)
    assert wait_until_terminal(processor, batch_id)["status"] == "failed"
    assert list(processor.provider.iter_result_lines(batch_id)) == []


def test_missing_bucket_is_a_configuration_error(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GCS_BUCKET", f"no-such-bucket-{uuid.uuid4().hex[:8]}")
    get_settings.cache_clear()
    processor = BatchProcessor(MODEL, User)
    with pytest.raises(ConfigurationError, match="GCS_BUCKET"):
        submit(processor, 1)


def test_server_errors_are_retryable(sandbox: Sandbox) -> None:
    processor = BatchProcessor(MODEL, User)
    buffer = processor.create_batch_from_messages(conversations(1))
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, http_500_rate=1.0)
    with pytest.raises(ProviderUnavailable) as caught:
        processor.submit_batch(buffer)
    assert caught.value.status_code == 500


def test_refusals_in_both_gemini_shapes_are_refusals(sandbox: Sandbox) -> None:
    """A blocked prompt (``promptFeedback``) and a candidate stopped for safety both refuse."""
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, refusal_rate=1.0)
    processor = BatchProcessor(MODEL, User)
    batch_id = submit(processor, 20)
    wait_until_terminal(processor, batch_id)
    errors = [r for r in processor.retrieve_results(batch_id) if isinstance(r, BatchError)]
    assert len(errors) == 20
    assert {(r.error_type, r.provider_code) for r in errors} == {(ErrorType.REFUSAL, "SAFETY")}
    assert {"promptFeedback" in r.raw_data["response"] for r in errors} == {True, False}
