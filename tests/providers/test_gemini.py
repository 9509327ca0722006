"""Gemini through the Gemini Developer API: request and result lines, the batch mapping, and
the whole path through google-genai (``vertexai=False``, an API key only) against the sandbox,
with requests sent inline and as an uploaded file."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from batchline.batching import BatchProcessor, ErrorType
from batchline.batching.providers import RequestOptions
from batchline.batching.providers.gemini import GeminiProvider, parse_response_line
from batchline.batching.providers.gemini_jobs import STATUS_MAP, to_batch_info
from batchline.batching.status import BatchStatus
from batchline.config import Settings
from batchline.errors import BatchNotFoundError, InvalidRequestError
from batchline.sandbox import Sandbox
from tests.providers.contract import ProviderContract, conversations, wait_until_terminal
from tests.providers.models import User

MODEL = "gemini/gemini-2.5-flash"


def offline_provider(**options: Any) -> GeminiProvider:
    return GeminiProvider("gemini-2.5-flash", Settings(gemini_api_key="k"), **options)


# -- offline ---------------------------------------------------------------------------------------
def test_request_lines_are_the_batch_file_format_without_vertex_labels() -> None:
    encode = offline_provider().line_encoder(User, RequestOptions(max_tokens=50))
    line = orjson.loads(encode("request-0", conversations(1)[0]))
    assert line["key"] == "request-0"
    request = line["request"]
    assert "labels" not in request
    assert request["systemInstruction"] == {
        "parts": [{"text": "Extract user information from text."}]
    }
    assert request["generationConfig"]["responseMimeType"] == "application/json"
    assert request["generationConfig"]["maxOutputTokens"] == 50


def test_labels_in_the_extras_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="no request labels"):
        offline_provider().line_encoder(User, RequestOptions(extra={"labels": {"a": "b"}}))


def test_an_error_line_is_a_provider_error_with_googles_status() -> None:
    line = b'{"key": "a", "error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}'
    outcome = parse_response_line(line)
    assert (outcome.custom_id, outcome.error_type) == ("a", ErrorType.PROVIDER_ERROR)
    assert (outcome.error_message, outcome.provider_code) == ("bad", "INVALID_ARGUMENT")


def test_counts_and_the_failure_reason_come_from_the_raw_operation() -> None:
    operation = {
        "name": "batches/abc",
        "metadata": {
            "state": "BATCH_STATE_FAILED",
            "displayName": "batchline job=j1",
            "createTime": "2026-12-01T10:00:00.123456789Z",
            "batchStats": {
                "requestCount": "4",
                "failedRequestCount": "1",
                "successfulRequestCount": "3",
            },
        },
        "done": True,
        "error": {"code": 3, "message": "input refused"},
    }
    info = to_batch_info(operation)
    assert info.status is BatchStatus.FAILED
    assert (info.request_counts.total, info.request_counts.completed) == (4, 3)
    assert info.request_counts.failed == 1
    assert info.error == "input refused"
    assert info.metadata == {"job": "j1"}
    assert info.created_at is not None and info.created_at.microsecond == 123456


def test_every_batch_state_is_mapped() -> None:
    assert set(STATUS_MAP) == {
        f"BATCH_STATE_{s}"
        for s in (
            "UNSPECIFIED",
            "PENDING",
            "RUNNING",
            "SUCCEEDED",
            "FAILED",
            "CANCELLED",
            "EXPIRED",
        )
    }


def test_a_name_that_is_not_a_gemini_batch_is_not_found_without_a_call() -> None:
    with pytest.raises(BatchNotFoundError, match="batches/"):
        offline_provider().get("batch_abc123")


def test_an_unknown_input_choice_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="input must be one of"):
        offline_provider(input="bucket")


# -- against the sandbox ---------------------------------------------------------------------------
class TestGeminiContract(ProviderContract):
    """Small batches: requests inline in the create call, results inline in the batch."""

    model = MODEL

    def missing_batch_id(self, sandbox: Sandbox) -> str:
        return "batches/doesnotexist0"


class TestGeminiFileContract(TestGeminiContract):
    """The same contract with the requests uploaded as a file and results in a responses file."""

    def processor(self, response_model: type = User) -> BatchProcessor[Any]:
        return BatchProcessor(self.model, response_model, input="file")


@pytest.mark.parametrize(("choice", "key"), [("inline", "requests"), ("file", "fileName")])
def test_the_input_travels_as_chosen(sandbox: Sandbox, choice: str, key: str) -> None:
    processor = BatchProcessor(MODEL, User, input=choice)
    batch_id = processor.submit_batch(processor.create_batch_from_messages(conversations(2)))
    assert key in processor.get_batch(batch_id).raw["metadata"]["inputConfig"]
    wait_until_terminal(processor, batch_id)
    assert len(processor.retrieve_results(batch_id)) == 2


def test_auto_sends_a_batch_over_the_inline_limit_as_a_file(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("batchline.batching.providers.gemini.INLINE_MAX_BYTES", 300)
    processor = BatchProcessor(MODEL, User)
    batch_id = processor.submit_batch(processor.create_batch_from_messages(conversations(3)))
    assert "fileName" in processor.get_batch(batch_id).raw["metadata"]["inputConfig"]
    wait_until_terminal(processor, batch_id)
    assert sorted(r.custom_id for r in processor.retrieve_results(batch_id)) == [
        "request-0",
        "request-1",
        "request-2",
    ]
