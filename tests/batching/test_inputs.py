"""Bad input gets a clear error naming the problem, before any network call."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pydantic import BaseModel

import batchline.batching as batching
from batchline.batching import BatchProcessor
from batchline.errors import (
    InvalidRequestError,
    ResponseModelError,
    UnknownProviderError,
)
from tests.providers.models import User

GUIDE_NAMES = {
    "BatchProcessor",
    "BatchSuccess",
    "BatchError",
    "filter_successful",
    "filter_errors",
    "extract_results",
    "get_results_by_custom_id",
}


def test_public_names_include_everything_the_guide_uses() -> None:
    assert set(batching.__all__) >= GUIDE_NAMES
    assert all(hasattr(batching, name) for name in batching.__all__)


@pytest.mark.parametrize("model", ["gpt-4.1-mini", "openai/", "/gpt-4", "", None])
def test_model_without_provider_prefix_is_refused(model: Any) -> None:
    with pytest.raises(InvalidRequestError, match="provider/model-name"):
        BatchProcessor(model, User)


def test_unknown_provider_is_named() -> None:
    with pytest.raises(UnknownProviderError, match=r"'mistral'.*anthropic, gemini, google, openai"):
        BatchProcessor("mistral/large", User)


@pytest.mark.parametrize("response_model", [dict, "User", User(name="a", age=1), None])
def test_response_model_must_be_a_pydantic_model(response_model: Any) -> None:
    with pytest.raises(ResponseModelError, match="pydantic"):
        BatchProcessor("openai/gpt-4.1-mini", response_model)


@pytest.mark.parametrize("messages_list", [[], iter(()), (m for m in [])])
def test_empty_message_list_is_refused(messages_list: Any) -> None:
    with pytest.raises(InvalidRequestError, match="empty"):
        BatchProcessor("openai/gpt-4.1-mini", User).create_batch_from_messages(messages_list)


def test_empty_message_list_leaves_no_file_behind(tmp_path: Any) -> None:
    path = tmp_path / "requests.jsonl"
    with pytest.raises(InvalidRequestError):
        BatchProcessor("openai/gpt-4.1-mini", User).create_batch_from_messages([], str(path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [[], "hello", {"role": "user"}])
def test_a_bad_conversation_is_named_by_index(bad: Any) -> None:
    good = [{"role": "user", "content": "hi"}]
    with pytest.raises(InvalidRequestError, match=r"messages_list\[1\]"):
        BatchProcessor("openai/gpt-4.1-mini", User).create_batch_from_messages([good, bad])


def test_text_mode_buffer_is_refused_with_advice() -> None:
    with pytest.raises(InvalidRequestError, match="binary"):
        BatchProcessor("openai/gpt-4.1-mini", User).submit_batch(io.StringIO("{}\n"))  # type: ignore[arg-type]


def test_missing_request_file_is_named(tmp_path: Any) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(InvalidRequestError, match=r"nope\.jsonl"):
        BatchProcessor("openai/gpt-4.1-mini", User).submit_batch(str(missing))


class Local(BaseModel):
    value: int


def test_results_types_tell_success_from_error_as_the_guide_does() -> None:
    ok = batching.BatchSuccess(custom_id="a", result=Local(value=1))
    err = batching.BatchError(custom_id="b", error_type="x", error_message="boom")
    assert hasattr(ok, "result") and ok.success
    assert not hasattr(err, "result") and not err.success
    assert batching.extract_results([ok, err]) == [Local(value=1)]
    assert batching.get_results_by_custom_id([ok, err])["b"] is err
