"""Every library call the batch-processing guide shows, made the way it shows them, for each
provider and in both of its modes (a request file on disk, and an in-memory buffer).

Users arrive with the guide's code and change only the import line to ``batchline.batching``, so
each name, argument and attribute it uses is called here exactly as written there: keyword
``file_path=``/``messages_list=`` in file mode, positional ``messages_list`` with
``file_path=None`` in memory mode, ``submit_batch(..., metadata=...)``, ``status["status"]`` and
``status.get("status")``, ``retrieve_results``, ``get_results``, ``parse_results`` and the four
result helpers with ``success``, ``result`` and ``error_message``. The guide's text is not read.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from batchline.batching import (
    BatchProcessor,
    extract_results,
    filter_errors,
    filter_successful,
    get_results_by_custom_id,
)
from batchline.config import get_settings
from batchline.errors import BatchlineError
from batchline.sandbox import Faults, Sandbox
from tests.conftest import TEST_COMPLETION_DELAY
from tests.providers.models import User

#: The model string of each provider's setup section; the provider is its prefix.
MODELS = {
    "openai": "openai/gpt-4.1-mini",
    "anthropic": "anthropic/claude-3-5-sonnet-20241022",
    "google": "google/gemini-2.5-flash",
}
PROVIDERS = sorted(MODELS)

#: Where each provider's request line keeps the generation settings the guide passes.
GENERATION_SETTINGS = {
    "openai": lambda line: (line["body"]["max_tokens"], line["body"]["temperature"]),
    "anthropic": lambda line: (line["params"]["max_tokens"], line["params"]["temperature"]),
    "google": lambda line: (
        line["request"]["generationConfig"]["maxOutputTokens"],
        line["request"]["generationConfig"].get("temperature"),
    ),
}

#: Anthropic batches carry no metadata (the provider has no field for it); the others keep it.
KEEPS_METADATA = {"openai": True, "anthropic": False, "google": True}

#: The statuses the guide's in-memory loop stops on.
GUIDE_LOOP_EXITS = ["completed", "failed", "cancelled"]


def two_people_with_a_system_prompt() -> list[list[dict[str, str]]]:
    instruction = {"role": "system", "content": "Pull the person's details out of the message."}
    return [
        [instruction, {"role": "user", "content": "Morning! Carla here, I turned 41 today."}],
        [instruction, {"role": "user", "content": "This is Dev, aged 19."}],
    ]


def two_people() -> list[list[dict[str, str]]]:
    return [
        [{"role": "user", "content": "Extract: Priya is 52 years old"}],
        [{"role": "user", "content": "Extract: Tomas is 33 years old"}],
    ]


def poll_until_over(processor: BatchProcessor[User], batch_id: str) -> dict[str, Any]:
    """The guide's in-memory loop, with a short sleep and a deadline so a hang fails the test."""
    deadline = time.monotonic() + 30
    while True:
        status = processor.get_batch_status(batch_id)
        if status.get("status") in GUIDE_LOOP_EXITS:
            return status
        assert time.monotonic() < deadline, f"batch still {status['status']}"
        time.sleep(0.05)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_file_mode_writes_the_file_and_its_results_come_back_typed(
    provider: str, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    processor = BatchProcessor(MODELS[provider], User)

    written = processor.create_batch_from_messages(
        file_path="batch_requests.jsonl",
        messages_list=two_people_with_a_system_prompt(),
        max_tokens=200,
        temperature=0.1,
    )
    batch_id = processor.submit_batch("batch_requests.jsonl")
    status = poll_until_over(processor, batch_id)
    all_results = processor.retrieve_results(batch_id)

    assert written == "batch_requests.jsonl"
    lines = [orjson.loads(line) for line in Path("batch_requests.jsonl").read_bytes().splitlines()]
    assert [GENERATION_SETTINGS[provider](line) for line in lines] == [(200, 0.1)] * 2
    assert isinstance(batch_id, str) and batch_id
    # The guide's check also lists Anthropic's and Vertex's own words ("ended",
    # "JOB_STATE_SUCCEEDED"); batchline answers in one vocabulary, so "completed" matches it.
    assert status["status"] == "completed"
    assert status["provider"] == provider
    assert status["request_counts"]["total"] == 2
    users = extract_results(all_results)
    assert len(users) == 2
    assert all(isinstance(user, User) and user.name and user.age >= 0 for user in users)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_memory_mode_returns_a_buffer_and_get_results_gives_typed_results(
    provider: str, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    processor = BatchProcessor(MODELS[provider], User)

    buffer = processor.create_batch_from_messages(two_people(), file_path=None, max_tokens=150)
    batch_id = processor.submit_batch(buffer)
    status = poll_until_over(processor, batch_id)
    results = processor.get_results(batch_id)

    assert isinstance(buffer, io.BytesIO)
    lines = [orjson.loads(line) for line in buffer.getvalue().splitlines()]
    assert [GENERATION_SETTINGS[provider](line)[0] for line in lines] == [150, 150]
    assert list(tmp_path.iterdir()) == []  # nothing touched the disk
    assert status.get("status") == "completed"
    people = [r.result for r in results if hasattr(r, "result")]
    assert len(people) == 2
    assert all(isinstance(person.name, str) and isinstance(person.age, int) for person in people)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_submit_batch_takes_metadata(provider: str, sandbox: Sandbox) -> None:
    processor = BatchProcessor(MODELS[provider], User)
    buffer = processor.create_batch_from_messages(two_people(), file_path=None)

    batch_id = processor.submit_batch(buffer, metadata={"team": "growth"})

    status = processor.get_batch_status(batch_id)
    expected = {"team": "growth"} if KEEPS_METADATA[provider] else {}
    assert status["metadata"] == expected


@pytest.mark.parametrize("provider", PROVIDERS)
def test_result_helpers_split_successes_from_errors(provider: str, sandbox: Sandbox) -> None:
    # The seeded faults fail some requests by custom id, the same ones on every run.
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, error_rate=0.5, seed=3)
    processor = BatchProcessor(MODELS[provider], User)
    messages = [[{"role": "user", "content": f"Extract: person {i} is {30 + i}"}] for i in range(8)]
    batch_id = processor.submit_batch(processor.create_batch_from_messages(messages, None))
    poll_until_over(processor, batch_id)

    all_results = processor.retrieve_results(batch_id)
    successful = filter_successful(all_results)
    errors = filter_errors(all_results)
    objects = extract_results(all_results)
    by_id = get_results_by_custom_id(all_results)

    assert successful and errors, "the seeded faults should fail some requests, not all"
    assert len(successful) + len(errors) == len(all_results) == 8
    assert objects == [success.result for success in successful]
    assert sorted(by_id) == sorted(f"request-{i}" for i in range(8))
    result = by_id["request-1"]
    if result.success:
        assert isinstance(result.result, User)
    else:
        assert result.error_message
    for custom_id, outcome in by_id.items():
        assert outcome.success == (outcome in successful), custom_id
        assert outcome.success or outcome.error_message


@pytest.mark.parametrize("provider", PROVIDERS)
def test_parse_results_reads_the_raw_lines_a_batch_wrote(
    provider: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    processor = BatchProcessor(MODELS[provider], User)
    batch_id = processor.submit_batch(processor.create_batch_from_messages(two_people(), None))
    poll_until_over(processor, batch_id)
    raw_file = tmp_path / "raw_results.jsonl"
    downloaded = processor.get_results(batch_id, file_path=raw_file)

    parsed = processor.parse_results(raw_file.read_text())

    assert sorted(r.custom_id for r in parsed) == ["request-0", "request-1"]
    assert sorted(extract_results(parsed), key=repr) == sorted(
        extract_results(downloaded), key=repr
    )


def test_a_model_string_without_a_provider_is_refused() -> None:
    with pytest.raises(BatchlineError, match="provider/model-name"):
        BatchProcessor("gpt-4.1-mini", User)


def test_google_without_gcs_bucket_names_the_variable(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GCS_BUCKET")
    get_settings.cache_clear()
    processor = BatchProcessor(MODELS["google"], User)

    with pytest.raises(BatchlineError, match="GCS_BUCKET"):
        processor.submit_batch(processor.create_batch_from_messages(two_people(), None))
