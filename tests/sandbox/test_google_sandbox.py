"""The Vertex AI batch emulation, driven only through google-genai and google-cloud-storage.

Every call goes through the official SDKs, as batchline's own code will, so a passing test
means the SDKs accept what the sandbox says. The genai client here never retries (no
``retry_options``: google-genai 3.x then makes exactly one attempt), so an injected HTTP fault
surfaces as the SDK's own error.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import google.oauth2.credentials
import pytest
from google import genai
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[import-untyped]
from google.genai import errors, types
from google.genai.types import JobState
from pydantic import BaseModel, ValidationError

from batchline.sandbox import BatchOutcome, FakeModel, Faults, Sandbox
from batchline.sandbox.google import refused_prompt
from batchline.sandbox.server import GOOGLE_TOKEN
from tests.conftest import REAL_OUTPUTS, TEST_COMPLETION_DELAY

MODEL = "gemini-2.5-flash"
#: The OpenAPI subset Gemini takes as ``responseSchema``: upper-case types, ``nullable``.
PERSON_SCHEMA: dict[str, Any] = {
    "type": "OBJECT",
    "properties": {
        "name": {"type": "STRING"},
        "age": {"type": "INTEGER", "nullable": True},
    },
    "required": ["name", "age"],
}
#: A JSON line, as read or written.
Line = dict[str, Any]
TERMINAL = {
    JobState.JOB_STATE_SUCCEEDED,
    JobState.JOB_STATE_FAILED,
    JobState.JOB_STATE_CANCELLED,
    JobState.JOB_STATE_EXPIRED,
    JobState.JOB_STATE_PARTIALLY_SUCCEEDED,
}


class Person(BaseModel):
    name: str
    age: int | None


def request_line(key: str | None = None, schema: dict[str, Any] | None = PERSON_SCHEMA) -> Line:
    """One input line as batchline writes it: the id in ``key`` beside ``request``."""
    config: dict[str, Any] = {"temperature": 0.0, "maxOutputTokens": 64}
    if schema is not None:
        config |= {"responseMimeType": "application/json", "responseSchema": schema}
    request = {
        "contents": [{"role": "user", "parts": [{"text": "Who is in this note? Alice, 30."}]}],
        "systemInstruction": {"parts": [{"text": "Extract the person."}]},
        "generationConfig": config,
    }
    return {"request": request} if key is None else {"key": key, "request": request}


@dataclass
class Vertex:
    """Both official clients pointed at the sandbox, and a folder only this test writes to."""

    sandbox: Sandbox
    client: genai.Client
    gcs: storage.Client
    folder: str

    @property
    def bucket(self) -> storage.Bucket:
        return self.gcs.bucket(self.sandbox.bucket)

    def uri(self, name: str) -> str:
        return f"gs://{self.sandbox.bucket}/{self.folder}/{name}"

    def upload(self, lines: list[Line] | list[str], name: str = "input.jsonl") -> str:
        text = "".join(
            (line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines
        )
        self.bucket.blob(f"{self.folder}/{name}").upload_from_string(text)
        return self.uri(name)

    def create(self, src: Any, **config: Any) -> types.BatchJob:
        config.setdefault("dest", self.uri("out/"))
        config.setdefault("display_name", f"test-{self.folder[-8:]}")
        return self.client.batches.create(
            model=MODEL, src=src, config=types.CreateBatchJobConfig(**config)
        )

    def submit(self, lines: list[Line], **config: Any) -> types.BatchJob:
        return self.create(self.upload(lines), **config)

    def states(self, name: str, timeout: float = 20.0) -> Iterator[types.BatchJob]:
        """The job at each poll, until it is terminal (then once more, terminal)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.client.batches.get(name=name)
            yield job
            if job.state in TERMINAL:
                return
            time.sleep(0.02)
        raise AssertionError(f"job {name} did not finish within {timeout} s")

    def wait(self, name: str) -> types.BatchJob:
        *_, job = self.states(name)
        return job

    def predictions(self, job: types.BatchJob) -> list[Line]:
        """Every line of predictions.jsonl in the folder the job reports, read in blocks."""
        assert job.output_info is not None and job.output_info.gcs_output_directory
        bucket, _, folder = job.output_info.gcs_output_directory.removeprefix("gs://").partition(
            "/"
        )
        lines: list[Line] = []
        for blob in self.gcs.list_blobs(bucket, prefix=folder + "/"):
            assert blob.name == f"{folder}/predictions.jsonl"
            with blob.open("rb", chunk_size=1 << 20) as reader:
                data = b"".join(iter(lambda: reader.read(1 << 20), b""))
            lines += [json.loads(line) for line in data.splitlines()]
        return lines


def sandbox_client(sandbox: Sandbox, **http_options: Any) -> genai.Client:
    """The construction that works: explicit project, location, token and base URL."""
    return genai.Client(
        vertexai=True,
        project=sandbox.project,
        location=sandbox.location,
        credentials=google.oauth2.credentials.Credentials(token=GOOGLE_TOKEN),  # type: ignore[no-untyped-call]
        http_options=types.HttpOptions(base_url=sandbox.google_base_url, **http_options),
    )


@pytest.fixture(scope="module")
def clients(sandbox_server: Sandbox) -> tuple[genai.Client, storage.Client]:
    """Built once: a genai client takes a few hundred milliseconds to construct."""
    gcs = storage.Client(
        project=sandbox_server.project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": sandbox_server.gcs_url},
    )
    return sandbox_client(sandbox_server), gcs


@pytest.fixture
def vertex(sandbox: Sandbox, clients: tuple[genai.Client, storage.Client]) -> Vertex:
    client, gcs = clients
    return Vertex(sandbox, client, gcs, f"tests/{uuid.uuid4().hex}")


def sdk_response(line: Line) -> types.GenerateContentResponse:
    """A prediction's ``response`` as the SDK parses an API response (unknown fields dropped)."""
    return types.GenerateContentResponse._from_response(response=dict(line["response"]), kwargs={})


def keyed(lines: list[Line]) -> dict[str, Line]:
    return {line["key"]: line for line in lines}


def keys(count: int, prefix: str = "req") -> list[str]:
    return [f"{prefix}-{index}" for index in range(count)]


# -- creating and following a job ------------------------------------------------------------------


def test_create_returns_a_queued_job_that_echoes_its_configuration(vertex: Vertex) -> None:
    src = vertex.upload([request_line("a")])

    job = vertex.create(src, display_name="people-extraction")

    assert job.name is not None
    project, location, job_id = job.name.split("/")[1::2]
    assert (project, location) == (vertex.sandbox.project, vertex.sandbox.location)
    assert job_id.isdigit()
    assert job.state is JobState.JOB_STATE_QUEUED
    assert job.display_name == "people-extraction"
    assert job.model == f"publishers/google/models/{MODEL}"
    assert job.src == types.BatchJobSource(format="jsonl", gcs_uri=[src])
    assert job.dest == types.BatchJobDestination(format="jsonl", gcs_uri=vertex.uri("out/"))
    assert job.create_time is not None and job.start_time is None and job.end_time is None
    assert vertex.client.batches.get(name=job_id).name == job.name


def test_job_moves_from_queued_through_pending_and_running_to_succeeded(vertex: Vertex) -> None:
    vertex.sandbox.faults = Faults(completion_delay=2.0)
    job = vertex.submit([request_line("a")])

    seen = [job.state]
    for polled in vertex.states(job.name or ""):
        if polled.state != seen[-1]:
            seen.append(polled.state)

    assert seen == [
        JobState.JOB_STATE_QUEUED,
        JobState.JOB_STATE_PENDING,
        JobState.JOB_STATE_RUNNING,
        JobState.JOB_STATE_SUCCEEDED,
    ]


def test_succeeded_job_reports_times_counts_and_its_output_folder(vertex: Vertex) -> None:
    created = vertex.submit([request_line(key) for key in keys(3)])

    job = vertex.wait(created.name or "")

    assert job.state is JobState.JOB_STATE_SUCCEEDED
    assert job.error is None
    assert job.create_time and job.start_time and job.end_time and job.update_time
    assert job.create_time < job.start_time < job.end_time == job.update_time
    # completion_delay from creation to the end (less the microsecond the timestamps drop).
    assert (job.end_time - job.create_time).total_seconds() >= TEST_COMPLETION_DELAY - 1e-5
    # Proto3 JSON leaves zero counts out: nothing failed, nothing incomplete.
    assert job.completion_stats == types.CompletionStats(successful_count=3)
    assert job.output_info is not None and job.output_info.gcs_output_directory
    assert job.output_info.gcs_output_directory.startswith(vertex.uri("out/prediction-model-"))


def test_every_request_comes_back_with_its_key_and_its_request_echoed(vertex: Vertex) -> None:
    sent = {key: request_line(key) for key in keys(12)}

    lines = vertex.predictions(vertex.wait(vertex.submit(list(sent.values())).name or ""))

    assert len(lines) == len(sent)
    for key, line in keyed(lines).items():
        assert line["request"] == sent[key]["request"]
        assert line["status"] == ""
        assert sdk_response(line).candidates


def test_answers_are_json_text_valid_for_the_response_schema(vertex: Vertex) -> None:
    lines = vertex.predictions(vertex.wait(vertex.submit([request_line("a")]).name or ""))

    response = sdk_response(lines[0])

    assert response.candidates and response.candidates[0].finish_reason is types.FinishReason.STOP
    assert response.candidates[0].content and response.candidates[0].content.role == "model"
    assert response.text == json.dumps(json.loads(response.text or ""), indent=2)
    assert Person.model_validate_json(response.text or "")


def test_prediction_lines_have_the_shape_of_real_vertex_output(vertex: Vertex) -> None:
    real = json.loads((REAL_OUTPUTS / "vertex_predictions_1.jsonl").read_text().splitlines()[0])

    line = vertex.predictions(vertex.wait(vertex.submit([request_line("a")]).name or ""))[0]

    assert set(line) - {"key"} == set(real)
    assert set(line["response"]) == set(real["response"])
    assert set(line["response"]["usageMetadata"]) == set(real["response"]["usageMetadata"])
    candidate, real_candidate = line["response"]["candidates"][0], real["response"]["candidates"][0]
    assert set(candidate) <= set(real_candidate)
    assert {"avgLogprobs", "content", "finishReason"} <= set(candidate)
    assert datetime.fromisoformat(line["processed_time"]).utcoffset() is not None
    assert line["processed_time"].endswith("+00:00")
    assert line["response"]["createTime"].endswith("Z")
    assert line["response"]["modelVersion"] == MODEL
    usage = sdk_response(line).usage_metadata
    assert usage is not None and usage.traffic_type is types.TrafficType.ON_DEMAND
    assert usage.total_token_count == (usage.prompt_token_count or 0) + (
        usage.candidates_token_count or 0
    )


def test_output_order_is_not_input_order_but_is_the_same_every_run(vertex: Vertex) -> None:
    ids = keys(40)
    src = vertex.upload([request_line(key) for key in ids])

    first = vertex.predictions(vertex.wait(vertex.create(src).name or ""))
    second = vertex.predictions(vertex.wait(vertex.create(src).name or ""))

    order = [line["key"] for line in first]
    assert sorted(order) == sorted(ids)
    assert order != ids
    assert [line["key"] for line in second] == order


def test_custom_id_is_the_key_else_the_request_label_else_the_line_index(vertex: Vertex) -> None:
    vertex.sandbox.model = FakeModel(lambda custom_id, request: {"name": custom_id, "age": 1})
    labelled = request_line()
    labelled["request"]["labels"] = {"custom_id": "from-label"}
    lines = [request_line("from-key"), labelled, request_line()]

    answers = [
        json.loads(sdk_response(line).text or "")["name"]
        for line in vertex.predictions(vertex.wait(vertex.submit(lines).name or ""))
    ]

    assert sorted(answers) == ["2", "from-key", "from-label"]


def test_request_without_a_schema_gets_plain_text(vertex: Vertex) -> None:
    line = vertex.predictions(
        vertex.wait(vertex.submit([request_line("plain", schema=None)]).name or "")
    )[0]

    assert sdk_response(line).text == "Sandbox answer for plain."


def test_snake_case_request_fields_are_understood(vertex: Vertex) -> None:
    line = request_line("snake")
    request = line["request"]
    request["system_instruction"] = request.pop("systemInstruction")
    request["generation_config"] = {
        "response_mime_type": "application/json",
        "response_schema": PERSON_SCHEMA,
        "max_output_tokens": 64,
    }
    del request["generationConfig"]

    answer = vertex.predictions(vertex.wait(vertex.submit([line]).name or ""))[0]

    assert answer["request"]["generation_config"]["max_output_tokens"] == 64
    assert Person.model_validate_json(sdk_response(answer).text or "")


def test_large_input_uploaded_in_resumable_chunks_is_answered_in_full(vertex: Vertex) -> None:
    padding = "x" * 2000
    lines = [request_line(key) for key in keys(4600)]
    for line in lines:
        line["request"]["contents"][0]["parts"].append({"text": padding})
    blob = vertex.bucket.blob(f"{vertex.folder}/big.jsonl", chunk_size=8 * 1024 * 1024)
    blob.upload_from_string("".join(json.dumps(line) + "\n" for line in lines))
    assert (blob.size or 0) > 8 * 1024 * 1024  # so the client had to send it in chunks

    job = vertex.wait(vertex.create(vertex.uri("big.jsonl")).name or "")

    assert job.completion_stats == types.CompletionStats(successful_count=4600)
    assert {line["key"] for line in vertex.predictions(job)} == set(keys(4600))


def test_several_input_files_are_all_answered(vertex: Vertex) -> None:
    first = vertex.upload([request_line(key) for key in keys(3, "a")], "first.jsonl")
    second = vertex.upload([request_line(key) for key in keys(2, "b")], "second.jsonl")

    job = vertex.wait(
        vertex.create(types.BatchJobSource(format="jsonl", gcs_uri=[first, second])).name or ""
    )

    assert {line["key"] for line in vertex.predictions(job)} == set(keys(3, "a") + keys(2, "b"))


# -- per-request faults ----------------------------------------------------------------------------


def test_error_fault_gives_a_status_message_and_no_response(vertex: Vertex) -> None:
    vertex.sandbox.faults = Faults(error_rate=1.0, completion_delay=TEST_COMPLETION_DELAY)

    job = vertex.wait(vertex.submit([request_line(key) for key in keys(4)]).name or "")

    assert job.state is JobState.JOB_STATE_SUCCEEDED
    assert job.completion_stats == types.CompletionStats(failed_count=4)
    for line in vertex.predictions(job):
        assert line["status"].startswith("Bad Request: ")
        assert "response" not in line
        assert line["request"] == request_line()["request"]


def test_invalid_json_fault_gives_text_that_is_not_json(vertex: Vertex) -> None:
    vertex.sandbox.faults = Faults(invalid_json_rate=1.0, completion_delay=TEST_COMPLETION_DELAY)

    job = vertex.wait(vertex.submit([request_line(key) for key in keys(4)]).name or "")

    assert job.completion_stats == types.CompletionStats(successful_count=4)
    for line in vertex.predictions(job):
        response = sdk_response(line)
        assert (
            response.candidates and response.candidates[0].finish_reason is types.FinishReason.STOP
        )
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.text or "")


def test_schema_violation_fault_gives_json_that_breaks_the_schema(vertex: Vertex) -> None:
    vertex.sandbox.faults = Faults(
        schema_violation_rate=1.0, completion_delay=TEST_COMPLETION_DELAY
    )

    job = vertex.wait(vertex.submit([request_line(key) for key in keys(4)]).name or "")

    for line in vertex.predictions(job):
        text = sdk_response(line).text or ""
        assert isinstance(json.loads(text), dict)
        with pytest.raises(ValidationError):
            Person.model_validate_json(text)


def test_truncated_fault_stops_at_max_tokens_with_the_text_cut(vertex: Vertex) -> None:
    vertex.sandbox.faults = Faults(truncated_rate=1.0, completion_delay=TEST_COMPLETION_DELAY)

    job = vertex.wait(vertex.submit([request_line(key) for key in keys(4)]).name or "")

    for line in vertex.predictions(job):
        response = sdk_response(line)
        assert response.candidates
        assert response.candidates[0].finish_reason is types.FinishReason.MAX_TOKENS
        assert response.usage_metadata and response.usage_metadata.candidates_token_count == 64
        assert (response.text or "").startswith("{")
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.text or "")


def test_refusal_fault_blocks_the_prompt_or_stops_the_answer_for_safety(vertex: Vertex) -> None:
    vertex.sandbox.faults = Faults(refusal_rate=1.0, completion_delay=TEST_COMPLETION_DELAY)
    ids = keys(8)
    assert {refused_prompt(key) for key in ids} == {True, False}  # both shapes are covered

    job = vertex.wait(vertex.submit([request_line(key) for key in ids]).name or "")

    for key, line in keyed(vertex.predictions(job)).items():
        response = sdk_response(line)
        assert line["status"] == ""
        assert response.text is None
        if refused_prompt(key):
            assert response.prompt_feedback is not None
            assert response.prompt_feedback.block_reason is types.BlockedReason.SAFETY
            assert response.candidates is None
        else:
            assert response.candidates and response.candidates[0].content is None
            assert response.candidates[0].finish_reason is types.FinishReason.SAFETY


def test_faults_are_fixed_when_the_job_is_created(vertex: Vertex) -> None:
    job = vertex.submit([request_line(key) for key in keys(3)])
    vertex.sandbox.faults = Faults(error_rate=1.0, completion_delay=TEST_COMPLETION_DELAY)

    finished = vertex.wait(job.name or "")

    assert finished.completion_stats == types.CompletionStats(successful_count=3)


def test_bad_later_line_fails_only_that_request(vertex: Vertex) -> None:
    src = vertex.upload([json.dumps(request_line("good")), "this is not json", '{"key": "x"}'])

    job = vertex.wait(vertex.create(src).name or "")

    assert job.state is JobState.JOB_STATE_SUCCEEDED
    assert job.completion_stats == types.CompletionStats(successful_count=1, failed_count=2)
    statuses = sorted(line["status"] for line in vertex.predictions(job))
    assert statuses[0] == "" and all(status.startswith("Bad Request") for status in statuses[1:])


# -- HTTP faults and authentication ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "code", "status", "error_type"),
    [
        (Faults(http_429_rate=1.0), 429, "RESOURCE_EXHAUSTED", errors.ClientError),
        (Faults(http_500_rate=1.0), 500, "INTERNAL", errors.ServerError),
        (Faults(http_503_rate=1.0), 503, "UNAVAILABLE", errors.ServerError),
    ],
)
def test_http_faults_come_back_in_googles_error_shape(
    vertex: Vertex, faults: Faults, code: int, status: str, error_type: type[errors.APIError]
) -> None:
    vertex.sandbox.faults = faults

    with pytest.raises(error_type) as raised:
        vertex.client.batches.list()

    assert (raised.value.code, raised.value.status) == (code, status)
    assert raised.value.message


def test_a_retrying_client_gets_through_intermittent_unavailability(vertex: Vertex) -> None:
    job = vertex.submit([request_line("a")])
    vertex.sandbox.faults = Faults(http_503_rate=0.5, completion_delay=TEST_COMPLETION_DELAY)
    retrying = sandbox_client(
        vertex.sandbox,
        retry_options=types.HttpRetryOptions(
            attempts=12, initial_delay=0.01, max_delay=0.02, jitter=0.0
        ),
    )

    polled = [retrying.batches.get(name=job.name or "") for _ in range(5)]

    assert {found.name for found in polled} == {job.name}


def test_request_with_only_an_api_key_is_unauthenticated(sandbox: Sandbox) -> None:
    keyed_client = genai.Client(
        vertexai=True,
        api_key="AIza-not-accepted",
        http_options=types.HttpOptions(base_url=sandbox.google_base_url),
    )

    with pytest.raises(errors.ClientError) as raised:
        keyed_client.batches.list()

    assert (raised.value.code, raised.value.status) == (401, "UNAUTHENTICATED")
    assert "API keys are not supported" in (raised.value.message or "")


def test_bearer_scheme_without_a_token_is_unauthenticated(sandbox: Sandbox) -> None:
    # The SDK will not send an empty token itself (it refreshes instead, and httpx refuses a
    # trailing space), so the bare scheme rides on a client that otherwise sends no token.
    bare = genai.Client(
        vertexai=True,
        api_key="AIza-not-accepted",
        http_options=types.HttpOptions(
            base_url=sandbox.google_base_url, headers={"Authorization": "Bearer"}
        ),
    )

    with pytest.raises(errors.ClientError) as raised:
        bare.batches.list()

    assert (raised.value.code, raised.value.status) == (401, "UNAUTHENTICATED")


def test_clients_configured_from_the_sandbox_env_reach_it(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # google-genai reads GOOGLE_VERTEX_BASE_URL only with vertexai=True passed, and sends the
    # token and the projects/... path only when project and location are passed too.
    env = sandbox.env
    client = genai.Client(
        vertexai=True,
        project=env["GOOGLE_CLOUD_PROJECT"],
        location=env["GOOGLE_CLOUD_LOCATION"],
        credentials=google.oauth2.credentials.Credentials(  # type: ignore[no-untyped-call]
            token=env["BATCHLINE_GOOGLE_ACCESS_TOKEN"]
        ),
    )
    gcs = storage.Client()  # STORAGE_EMULATOR_HOST: anonymous, against the emulator

    pager = client.batches.list(config=types.ListBatchJobsConfig(page_size=1))

    assert isinstance(pager.page, list)
    assert env["GCS_BUCKET"] in {bucket.name for bucket in gcs.list_buckets()}


# -- how a job can end -----------------------------------------------------------------------------


def test_failed_validation_fails_the_job_before_it_runs(vertex: Vertex) -> None:
    vertex.sandbox.faults = Faults(
        batch_outcome=BatchOutcome.FAIL_VALIDATION, completion_delay=TEST_COMPLETION_DELAY
    )

    job = vertex.wait(vertex.submit([request_line("a")]).name or "")

    assert job.state is JobState.JOB_STATE_FAILED
    assert job.error is not None and job.error.code == 3 and job.error.message
    assert job.start_time is None
    assert job.output_info is None and job.completion_stats is None


def test_missing_input_object_fails_the_job_and_names_it(vertex: Vertex) -> None:
    missing = vertex.uri("never-uploaded.jsonl")

    job = vertex.wait(vertex.create(missing).name or "")

    assert job.state is JobState.JOB_STATE_FAILED
    assert job.error is not None and job.error.code == 5
    assert missing in (job.error.message or "")


def test_input_whose_first_line_is_not_json_fails_the_job(vertex: Vertex) -> None:
    src = vertex.upload(["key,request", "a,hello"], "input.csv")

    job = vertex.wait(vertex.create(src).name or "")

    assert job.state is JobState.JOB_STATE_FAILED
    assert "line 1" in (job.error.message or "" if job.error else "")


def test_expired_job_keeps_the_output_of_the_requests_that_finished(vertex: Vertex) -> None:
    faults = Faults(batch_outcome=BatchOutcome.EXPIRE, completion_delay=TEST_COMPLETION_DELAY)
    vertex.sandbox.faults = faults
    ids = keys(20)
    finished = {key for key in ids if faults.finishes_before_end(key)}
    assert 0 < len(finished) < len(ids)

    job = vertex.wait(vertex.submit([request_line(key) for key in ids]).name or "")

    assert job.state is JobState.JOB_STATE_EXPIRED
    assert job.error is not None and job.error.code == 4
    assert job.completion_stats == types.CompletionStats(
        successful_count=len(finished), incomplete_count=len(ids) - len(finished)
    )
    assert {line["key"] for line in vertex.predictions(job)} == finished


def test_cancel_outcome_passes_through_cancelling_and_keeps_partial_output(
    vertex: Vertex,
) -> None:
    faults = Faults(batch_outcome=BatchOutcome.CANCEL, completion_delay=1.0)
    vertex.sandbox.faults = faults
    ids = keys(20)

    polls = list(vertex.states(vertex.submit([request_line(key) for key in ids]).name or ""))

    assert JobState.JOB_STATE_CANCELLING in {poll.state for poll in polls}
    job = polls[-1]
    assert job.state is JobState.JOB_STATE_CANCELLED
    assert job.error is not None and job.error.code == 1
    finished = {key for key in ids if faults.finishes_before_end(key)}
    assert {line["key"] for line in vertex.predictions(job)} == finished


def test_cancelling_a_running_job_keeps_the_output_of_finished_requests(vertex: Vertex) -> None:
    faults = Faults(completion_delay=3.0)
    vertex.sandbox.faults = faults
    ids = keys(20)
    job = vertex.submit([request_line(key) for key in ids])
    next(poll for poll in vertex.states(job.name or "") if poll.state is JobState.JOB_STATE_RUNNING)

    vertex.client.batches.cancel(name=job.name or "")

    assert vertex.client.batches.get(name=job.name or "").state is JobState.JOB_STATE_CANCELLING
    cancelled = vertex.wait(job.name or "")
    assert cancelled.state is JobState.JOB_STATE_CANCELLED
    assert cancelled.start_time is not None
    finished = {key for key in ids if faults.finishes_before_end(key)}
    assert {line["key"] for line in vertex.predictions(cancelled)} == finished


def test_cancelling_a_queued_job_runs_none_of_its_requests(vertex: Vertex) -> None:
    vertex.sandbox.faults = Faults(completion_delay=2.0)
    job = vertex.submit([request_line(key) for key in keys(5)])

    vertex.client.batches.cancel(name=job.name or "")
    cancelled = vertex.wait(job.name or "")

    assert cancelled.state is JobState.JOB_STATE_CANCELLED
    assert cancelled.start_time is None and cancelled.output_info is None
    assert cancelled.completion_stats == types.CompletionStats(incomplete_count=5)


def test_cancelling_a_finished_job_is_refused(vertex: Vertex) -> None:
    job = vertex.wait(vertex.submit([request_line("a")]).name or "")

    with pytest.raises(errors.ClientError) as raised:
        vertex.client.batches.cancel(name=job.name or "")

    assert (raised.value.code, raised.value.status) == (400, "FAILED_PRECONDITION")


# -- listing and deleting --------------------------------------------------------------------------


def labelled(run: str) -> types.HttpOptions:
    # CreateBatchJobConfig has no ``labels`` in google-genai 3.x; the body field still exists.
    return types.HttpOptions(extra_body={"labels": {"run": run}})


def test_list_pages_through_jobs_newest_first(vertex: Vertex) -> None:
    run = uuid.uuid4().hex
    src = vertex.upload([request_line("a")])
    created = [vertex.create(src, http_options=labelled(run)).name for _ in range(5)]

    pager = vertex.client.batches.list(
        config=types.ListBatchJobsConfig(page_size=2, filter=f'labels.run="{run}"')
    )

    assert len(pager.page) == 2
    assert [job.name for job in pager] == created[::-1]


def test_labels_sent_in_the_body_find_the_job_through_a_list_filter(vertex: Vertex) -> None:
    run = uuid.uuid4().hex
    src = vertex.upload([request_line("a")])
    mine = vertex.create(src, http_options=labelled(run))
    vertex.create(src, http_options=labelled(uuid.uuid4().hex))

    found = list(
        vertex.client.batches.list(config=types.ListBatchJobsConfig(filter=f"labels.run={run}"))
    )

    assert [job.name for job in found] == [mine.name]


def test_list_filters_by_display_name_and_state(vertex: Vertex) -> None:
    name = f"filter-{uuid.uuid4().hex[:8]}"
    src = vertex.upload([request_line("a")])
    done = vertex.wait(vertex.create(src, display_name=name).name or "")
    vertex.sandbox.faults = Faults(completion_delay=5.0)
    vertex.create(src, display_name=name)

    both = list(vertex.client.batches.list(config={"filter": f'display_name="{name}"'}))
    succeeded = list(
        vertex.client.batches.list(
            config={"filter": f'display_name="{name}" AND state=JOB_STATE_SUCCEEDED'}
        )
    )

    assert len(both) == 2
    assert [job.name for job in succeeded] == [done.name]


@pytest.mark.parametrize("unsupported", ['owner="me"', 'display_name="a" OR display_name="b"'])
def test_list_filter_the_sandbox_cannot_honour_is_refused(vertex: Vertex, unsupported: str) -> None:
    with pytest.raises(errors.ClientError) as raised:
        vertex.client.batches.list(config={"filter": unsupported})

    assert (raised.value.code, raised.value.status) == (400, "INVALID_ARGUMENT")


def test_deleting_a_finished_job_removes_it(vertex: Vertex) -> None:
    job = vertex.wait(vertex.submit([request_line("a")]).name or "")

    deleted = vertex.client.batches.delete(name=job.name or "")

    assert deleted.done is True and deleted.error is None
    assert (deleted.name or "").startswith(f"projects/{vertex.sandbox.project}/locations/")
    with pytest.raises(errors.ClientError) as raised:
        vertex.client.batches.get(name=job.name or "")
    assert (raised.value.code, raised.value.status) == (404, "NOT_FOUND")
    assert vertex.predictions(job)  # the output stays, as on Vertex


def test_deleting_a_running_job_is_refused(vertex: Vertex) -> None:
    vertex.sandbox.faults = Faults(completion_delay=5.0)
    job = vertex.submit([request_line("a")])

    with pytest.raises(errors.ClientError) as raised:
        vertex.client.batches.delete(name=job.name or "")

    assert (raised.value.code, raised.value.status) == (400, "FAILED_PRECONDITION")


def test_unknown_job_is_not_found(vertex: Vertex) -> None:
    with pytest.raises(errors.ClientError) as raised:
        vertex.client.batches.get(name="1234567890123456789")

    assert (raised.value.code, raised.value.status) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    "labels", [{"Run": "x"}, {"run": "Upper"}, {"1run": "x"}, {"run": "x" * 64}]
)
def test_labels_vertex_would_reject_are_rejected(vertex: Vertex, labels: dict[str, str]) -> None:
    src = vertex.upload([request_line("a")])

    with pytest.raises(errors.ClientError) as raised:
        vertex.create(src, http_options=types.HttpOptions(extra_body={"labels": labels}))

    assert (raised.value.code, raised.value.status) == (400, "INVALID_ARGUMENT")


def test_destination_that_is_not_cloud_storage_is_rejected(vertex: Vertex) -> None:
    src = vertex.upload([request_line("a")])

    with pytest.raises(errors.ClientError) as raised:
        vertex.create(src, dest="bq://project.dataset.table")

    assert (raised.value.code, raised.value.status) == (400, "INVALID_ARGUMENT")
