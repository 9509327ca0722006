"""The Gemini Developer API emulation, driven only through google-genai with ``vertexai=False``.

Every call goes through the official SDK and its typed models, so a passing test means the SDK
accepts and parses what the sandbox says. The client never retries (no ``retry_options``), so
an injected fault surfaces as the SDK's own error.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types
from google.genai.types import JobState
from pydantic import BaseModel

from batchline.sandbox import BatchOutcome, Faults, Sandbox
from batchline.sandbox.server import GEMINI_KEY
from tests.conftest import TEST_COMPLETION_DELAY

MODEL = "gemini-2.5-flash"
PERSON_SCHEMA: dict[str, Any] = {
    "type": "OBJECT",
    "properties": {"name": {"type": "STRING"}, "age": {"type": "INTEGER"}},
    "required": ["name", "age"],
}
TERMINAL = {
    JobState.JOB_STATE_SUCCEEDED,
    JobState.JOB_STATE_FAILED,
    JobState.JOB_STATE_CANCELLED,
    JobState.JOB_STATE_EXPIRED,
}


class Person(BaseModel):
    name: str
    age: int


def client_for(sandbox: Sandbox, api_version: str | None = None) -> genai.Client:
    options = types.HttpOptions(base_url=sandbox.gemini_base_url, api_version=api_version)
    return genai.Client(vertexai=False, api_key=GEMINI_KEY, http_options=options)


@pytest.fixture(params=[None, "v1beta"], ids=["v1-default", "v1beta"])
def client(sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[genai.Client]:
    """A Developer-API client on the SDK's default version (v1) and on the docs' (v1beta)."""
    yield client_for(sandbox, request.param)


def config() -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        response_mime_type="application/json",
        response_schema=types.Schema.model_validate(PERSON_SCHEMA),
        system_instruction="Extract the person.",
        max_output_tokens=200,
    )


def inlined(count: int) -> list[types.InlinedRequest]:
    return [
        types.InlinedRequest(
            contents=f"Hi, I'm person {i}, {20 + i} years old.",
            config=config(),
            metadata={"key": f"req-{i}"},
        )
        for i in range(count)
    ]


def file_lines(count: int) -> bytes:
    """The batch file format: ``{"key", "request": GenerateContentRequest}`` per line."""
    lines = [
        {
            "key": f"req-{i}",
            "request": {
                "contents": [{"role": "user", "parts": [{"text": f"I'm person {i}."}]}],
                "generationConfig": {"responseMimeType": "application/json",
                                     "responseSchema": PERSON_SCHEMA},
            },
        }
        for i in range(count)
    ]  # fmt: skip
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def wait(client: genai.Client, name: str) -> types.BatchJob:
    deadline = time.monotonic() + 30
    while True:
        job = client.batches.get(name=name)
        if job.state in TERMINAL:
            return job
        assert time.monotonic() < deadline, f"batch never ended: {job.state}"
        time.sleep(0.05)


def display() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def test_an_inline_batch_answers_every_request_in_typed_responses(client: genai.Client) -> None:
    job = client.batches.create(model=MODEL, src=inlined(3), config={"display_name": display()})
    assert job.name and job.name.startswith("batches/")
    assert job.state in {JobState.JOB_STATE_PENDING, JobState.JOB_STATE_RUNNING}

    done = wait(client, job.name)

    assert done.state is JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None and done.dest.inlined_responses is not None
    responses = done.dest.inlined_responses
    assert [r.metadata for r in responses] == [{"key": f"req-{i}"} for i in range(3)]
    for entry in responses:
        assert entry.error is None and entry.response is not None
        assert entry.response.usage_metadata is not None
        assert entry.response.usage_metadata.prompt_token_count
        person = Person.model_validate_json(entry.response.text or "")
        assert person.name


def test_a_file_batch_uploads_resumably_and_writes_a_responses_file(
    client: genai.Client, tmp_path: Path
) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(file_lines(4))
    uploaded = client.files.upload(file=str(path), config={"mime_type": "jsonl"})
    assert uploaded.name and uploaded.name.startswith("files/")
    assert uploaded.size_bytes == path.stat().st_size
    assert uploaded.state is types.FileState.ACTIVE

    job = client.batches.create(model=MODEL, src=uploaded.name, config={"display_name": display()})
    done = wait(client, job.name or "")

    assert done.state is JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None and done.dest.file_name
    lines = [
        json.loads(line) for line in client.files.download(file=done.dest.file_name).splitlines()
    ]
    assert sorted(line["key"] for line in lines) == [f"req-{i}" for i in range(4)]
    for line in lines:
        # The typed model forbids unknown fields: every field the sandbox writes is real.
        response = types.GenerateContentResponse.model_validate(line["response"])
        assert (
            response.candidates and response.candidates[0].finish_reason is types.FinishReason.STOP
        )
        Person.model_validate_json(response.text or "")


def test_a_request_error_comes_back_as_an_error_object(
    sandbox: Sandbox, client: genai.Client
) -> None:
    sandbox.faults = Faults(completion_delay=TEST_COMPLETION_DELAY, error_rate=1.0)
    job = client.batches.create(model=MODEL, src=inlined(2), config={"display_name": display()})
    done = wait(client, job.name or "")
    assert done.dest is not None and done.dest.inlined_responses is not None
    errors_seen = [entry.error for entry in done.dest.inlined_responses]
    assert all(error is not None and error.code == 400 for error in errors_seen)


def test_the_raw_operation_carries_batch_stats_and_the_failure(sandbox: Sandbox) -> None:
    """What the SDK's BatchJob drops in this mode, as the REST API sends it."""
    sandbox.faults = Faults(
        completion_delay=TEST_COMPLETION_DELAY, batch_outcome=BatchOutcome.FAIL_VALIDATION
    )
    client = client_for(sandbox)
    job = client.batches.create(model=MODEL, src=inlined(2), config={"display_name": display()})
    wait(client, job.name or "")
    headers = {"x-goog-api-key": GEMINI_KEY}
    raw = httpx.get(f"{sandbox.gemini_base_url}/v1beta/{job.name}", headers=headers).json()
    assert raw["metadata"]["state"] == "BATCH_STATE_FAILED"
    assert raw["metadata"]["batchStats"]["requestCount"] == "2"
    assert raw["done"] is True and raw["error"]["message"]


def test_list_follows_page_tokens_and_keeps_display_names(client: genai.Client) -> None:
    names = [display() for _ in range(3)]
    created = [
        client.batches.create(model=MODEL, src=inlined(1), config={"display_name": n}).name
        for n in names
    ]
    listed = list(client.batches.list(config={"page_size": 2}))
    by_name = {job.name: job.display_name for job in listed}
    assert all(by_name[name] == shown for name, shown in zip(created, names, strict=True))


def test_cancel_then_delete(sandbox: Sandbox, client: genai.Client) -> None:
    sandbox.faults = Faults(completion_delay=3.0)
    job = client.batches.create(model=MODEL, src=inlined(4), config={"display_name": display()})
    client.batches.cancel(name=job.name or "")
    assert wait(client, job.name or "").state is JobState.JOB_STATE_CANCELLED

    client.batches.delete(name=job.name or "")
    with pytest.raises(errors.ClientError) as raised:
        client.batches.get(name=job.name or "")
    assert raised.value.code == 404


def test_an_expired_batch_keeps_the_answers_it_finished(
    sandbox: Sandbox, client: genai.Client
) -> None:
    sandbox.faults = Faults(
        completion_delay=TEST_COMPLETION_DELAY, batch_outcome=BatchOutcome.EXPIRE
    )
    job = client.batches.create(model=MODEL, src=inlined(10), config={"display_name": display()})
    done = wait(client, job.name or "")
    assert done.state is JobState.JOB_STATE_EXPIRED
    answered = done.dest.inlined_responses if done.dest else None
    assert answered is not None and 0 < len(answered) < 10


def test_calls_without_an_api_key_are_refused(sandbox: Sandbox) -> None:
    response = httpx.get(f"{sandbox.gemini_base_url}/v1beta/batches")
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_an_injected_fault_is_the_sdks_own_error(sandbox: Sandbox, client: genai.Client) -> None:
    sandbox.faults = Faults(http_429_rate=1.0)
    with pytest.raises(errors.ClientError) as raised:
        client.batches.list()
    assert raised.value.code == 429
