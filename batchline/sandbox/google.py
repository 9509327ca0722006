"""Vertex AI batch prediction for Gemini, emulated: the jobs API and the predictions it writes.

The routes are the ones ``google-genai`` 3.x calls in Vertex mode (read from its ``batches.py``):
``{base}/v1beta1/projects/{p}/locations/{l}/batchPredictionJobs`` (POST create, GET list),
``.../batchPredictionJobs/{id}`` (GET, DELETE) and ``.../batchPredictionJobs/{id}:cancel``
(POST). Input and output live in Cloud Storage: a job reads its JSONL from the emulator with
the official ``google-cloud-storage`` client, streaming, and writes ``predictions.jsonl`` into a
folder it creates below the output prefix, as Vertex does, so code under test finds it the
real way (through ``outputInfo.gcsOutputDirectory``).

A job's life is the shared ``lifecycle.Timeline`` (so one ``Faults`` means the same thing for
every provider); its output is written once, by the first call that finds the job ended.
Responses follow Google's JSON mapping of protobuf: int64 counts are strings, and fields that
hold their default (zero counts, empty lists) are left out, so readers must treat a missing
count as zero.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import secrets
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import quote

import httpx
import orjson
from google.api_core import exceptions as gcs_errors
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[import-untyped]
from google.genai.types import JobState
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from batchline.sandbox.core import (
    FakeModel,
    Faults,
    LineFault,
    SandboxContext,
    break_json,
    cut_short,
    violate_schema,
)
from batchline.sandbox.lifecycle import Ending, Job, Phase, Timeline

#: Vertex's words for the shared phases. VALIDATING is split in two (see ``_VertexJob.state``).
_STATE_FOR_PHASE = {
    Phase.RUNNING: JobState.JOB_STATE_RUNNING,
    Phase.FINALIZING: JobState.JOB_STATE_RUNNING,  # Vertex shows no separate finalizing step
    Phase.CANCELLING: JobState.JOB_STATE_CANCELLING,
    Phase.COMPLETED: JobState.JOB_STATE_SUCCEEDED,
    Phase.FAILED: JobState.JOB_STATE_FAILED,
    Phase.EXPIRED: JobState.JOB_STATE_EXPIRED,
    Phase.CANCELLED: JobState.JOB_STATE_CANCELLED,
}
_TERMINAL_STATES = frozenset(
    {JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_EXPIRED}
    | {JobState.JOB_STATE_CANCELLED, JobState.JOB_STATE_PARTIALLY_SUCCEEDED}
)
#: Requests answered between two output writes; each block is shuffled, so output order is
#: not input order (as on Vertex) while memory stays flat for any input size.
_OUTPUT_BLOCK = 1000
#: Bytes read from Cloud Storage at a time (ranged reads of the input).
_IO_CHUNK = 2 * 1024 * 1024
#: Bytes sent at a time when publishing predictions.jsonl, and how long the upload may take.
_UPLOAD_PIECE = 256 * 1024
_UPLOAD_TIMEOUT = 300.0
#: Bytes of the first input file read at creation to check that it is JSONL at all.
_HEAD_BYTES = 64 * 1024
_DEFAULT_PAGE_SIZE, _MAX_PAGE_SIZE = 100, 1000
#: google.rpc.Code values a job's ``error`` carries.
_RPC_CANCELLED, _RPC_INVALID_ARGUMENT, _RPC_DEADLINE_EXCEEDED = 1, 3, 4
_RPC_NOT_FOUND, _RPC_INTERNAL = 5, 13
_ENDING_ERRORS = {
    JobState.JOB_STATE_EXPIRED: {
        "code": _RPC_DEADLINE_EXCEEDED,
        "message": "The batch prediction job expired before all requests were processed.",
    },
    JobState.JOB_STATE_CANCELLED: {
        "code": _RPC_CANCELLED,
        "message": "The batch prediction job was cancelled.",
    },
}
_FAIL_VALIDATION_ERROR = {
    "code": _RPC_INVALID_ARGUMENT,
    "message": "Invalid batch prediction input (sandbox fault: batch_outcome=fail_validation).",
}
_HTTP_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_FAULT_MESSAGES = {
    429: "Resource exhausted. Please try again later.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}
#: Google's own wording: the first when no credential came, the second for an API key alone.
_NO_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential."
)
_API_KEY_REJECTED = (
    "API keys are not supported by this API. Expected OAuth2 access token or other "
    "authentication credentials that assert a principal."
)
#: The ``status`` of a failed request. Vertex's exact wording is unpublished; this is its shape
#: as users report it: a short reason, then Google's error JSON.
_LINE_ERROR = (
    'Bad Request: {"error": {"code": 400, "message": "Request contains an invalid argument.", '
    '"status": "INVALID_ARGUMENT"}}'
)
_NO_CONTENTS_ERROR = (
    'Bad Request: {"error": {"code": 400, "message": "Unable to submit request because it has '
    'an empty contents field.", "status": "INVALID_ARGUMENT"}}'
)
_NOT_AN_OBJECT_ERROR = "Bad Request: the line is not a JSON object."
_DELETE_METADATA = "type.googleapis.com/google.cloud.aiplatform.v1beta1.DeleteOperationMetadata"
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


class _BadRequest(ValueError):
    """The call itself is invalid: answered at once with 400 INVALID_ARGUMENT."""


# -- the job ---------------------------------------------------------------------------------------


@dataclass
class _JobSpec:
    """What a create call asks for, checked as Vertex checks it before accepting the job."""

    display_name: str
    model: str
    input_uris: list[str]
    output_prefix: str
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, body: Any) -> _JobSpec:
        if not isinstance(body, dict):
            raise _BadRequest("Invalid JSON payload received: expected an object.")
        if not body.get("displayName"):
            raise _BadRequest("BatchPredictionJob.displayName is required.")
        if not body.get("model"):
            raise _BadRequest("BatchPredictionJob.model is required.")
        inputs, outputs = body.get("inputConfig") or {}, body.get("outputConfig") or {}
        if inputs.get("instancesFormat") != "jsonl" or "gcsSource" not in inputs:
            raise _BadRequest("The sandbox reads only jsonl input from inputConfig.gcsSource.")
        if outputs.get("predictionsFormat") != "jsonl" or "gcsDestination" not in outputs:
            raise _BadRequest("The sandbox writes only jsonl to outputConfig.gcsDestination.")
        uris = inputs["gcsSource"].get("uris") or []
        uris = [uris] if isinstance(uris, str) else list(uris)
        if not uris:
            raise _BadRequest("inputConfig.gcsSource.uris is empty.")
        for uri in uris:
            _split_gcs_uri(uri)
        prefix = outputs["gcsDestination"].get("outputUriPrefix") or ""
        _split_gcs_uri(prefix, bucket_only=True)
        labels = body.get("labels") or {}
        _check_labels(labels)
        return cls(body["displayName"], body["model"], uris, prefix, dict(labels))


def _check_labels(labels: Any) -> None:
    """Vertex's label rules: lowercase keys that start with a letter, values up to 63 chars."""
    if not isinstance(labels, dict) or len(labels) > 64:
        raise _BadRequest("labels must be a map of at most 64 entries.")
    for key, value in labels.items():
        if not (
            isinstance(value, str) and _LABEL_KEY.fullmatch(key) and _LABEL_VALUE.fullmatch(value)
        ):
            raise _BadRequest(
                f"Invalid label {key!r}: {value!r}. Keys and values hold lowercase letters, "
                "digits, '_' and '-', up to 63 characters; keys start with a letter."
            )


@dataclass
class _Counts:
    """A finished run's requests: Vertex's completionStats."""

    successful: int = 0
    failed: int = 0
    incomplete: int = 0


@dataclass
class _VertexJob:
    """One BatchPredictionJob: what was asked, its shared timeline, and what its run produced."""

    job_id: str
    project: str
    location: str
    seq: int
    spec: _JobSpec
    job: Job
    #: Why the job fails (input checks at creation), or why its run broke.
    error: dict[str, Any] | None = None
    broke: bool = False
    counts: _Counts | None = None
    output_dir: str | None = None

    @property
    def name(self) -> str:
        return (
            f"projects/{self.project}/locations/{self.location}/batchPredictionJobs/{self.job_id}"
        )

    @property
    def timeline(self) -> Timeline:
        return self.job.timeline

    def state(self, now: float) -> tuple[JobState, float]:
        """The state at ``now`` and when it was entered (``updateTime``).

        The shared VALIDATING phase is Vertex's QUEUED then PENDING, half of it each, which is
        how the SDK's JobState documents them (just created; preparing to run).
        """
        phase = self.timeline.phase(now)
        if phase is Phase.VALIDATING:
            created, started = self.timeline.created_at, self.timeline.started_at
            pending_at = (created + started) / 2
            if now < pending_at:
                return JobState.JOB_STATE_QUEUED, created
            return JobState.JOB_STATE_PENDING, pending_at
        entered = self.timeline.entered(phase, now)
        if phase is Phase.FINALIZING:
            entered = self.timeline.entered(Phase.RUNNING, now)
        state = _STATE_FOR_PHASE[phase]
        if self.broke and state in _TERMINAL_STATES:
            state = JobState.JOB_STATE_FAILED
        return state, now if entered is None else entered

    def resource(self, now: float) -> dict[str, Any]:
        """The BatchPredictionJob as Vertex's REST API spells it."""
        state, since = self.state(now)
        spec = self.spec
        body: dict[str, Any] = {
            "name": self.name,
            "displayName": spec.display_name,
            "model": spec.model,
            "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": spec.input_uris}},
            "outputConfig": {
                "predictionsFormat": "jsonl",
                "gcsDestination": {"outputUriPrefix": spec.output_prefix},
            },
            "state": state.value,
            "createTime": _rfc3339(self.timeline.created_at),
            "updateTime": _rfc3339(since),
        }
        if spec.labels:
            body["labels"] = dict(spec.labels)
        started = self.timeline.entered(Phase.RUNNING, now)
        if started is not None:
            body["startTime"] = _rfc3339(started)
        if state not in _TERMINAL_STATES:
            return body
        body["endTime"] = _rfc3339(since)
        if self.counts is not None:
            stats = {
                "successfulCount": self.counts.successful,
                "failedCount": self.counts.failed,
                "incompleteCount": self.counts.incomplete,
            }
            body["completionStats"] = {key: str(value) for key, value in stats.items() if value}
        if self.output_dir is not None:
            body["outputInfo"] = {"gcsOutputDirectory": self.output_dir}
        error = self.error or _ENDING_ERRORS.get(state)
        if error is not None:
            body["error"] = dict(error)
        return body


# -- Cloud Storage ---------------------------------------------------------------------------------


def _split_gcs_uri(uri: Any, *, bucket_only: bool = False) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.startswith("gs://"):
        raise _BadRequest(f"Invalid Cloud Storage URI {uri!r}: it must start with gs://.")
    bucket, _, path = uri.removeprefix("gs://").partition("/")
    if not bucket or not (path or bucket_only):
        raise _BadRequest(f"Invalid Cloud Storage URI {uri!r}: it names no object.")
    return bucket, path


def _input_problem(client: storage.Client, spec: _JobSpec) -> dict[str, Any] | None:
    """Why the job cannot run, checked at creation as Vertex does before it starts a job."""
    for uri in spec.input_uris:
        bucket, path = _split_gcs_uri(uri)
        if not client.bucket(bucket).blob(path).exists():
            return {"code": _RPC_NOT_FOUND, "message": f"Input file not found: {uri}."}
    bucket, _ = _split_gcs_uri(spec.output_prefix, bucket_only=True)
    if not client.bucket(bucket).exists():
        return {"code": _RPC_NOT_FOUND, "message": f"Output bucket not found: gs://{bucket}."}
    bucket, path = _split_gcs_uri(spec.input_uris[0])
    try:
        head = client.bucket(bucket).blob(path).download_as_bytes(start=0, end=_HEAD_BYTES - 1)
    except gcs_errors.RequestRangeNotSatisfiable:  # an empty object has no byte 0
        head = b""
    first = next((line for line in head.splitlines() if line.strip()), None)
    if first is None and len(spec.input_uris) == 1:
        message = f"The input {spec.input_uris[0]} holds no requests."
        return {"code": _RPC_INVALID_ARGUMENT, "message": message}
    # Judge the first line only when it is whole (a line longer than the head is let through).
    whole = first is not None and (len(first) < len(head) or len(head) < _HEAD_BYTES)
    if whole and _parse_line(first or b"") is None:
        message = f"Invalid JSONL input {spec.input_uris[0]}: line 1 is not a JSON object."
        return {"code": _RPC_INVALID_ARGUMENT, "message": message}
    return None


def _request_lines(client: storage.Client, uris: list[str]) -> Iterator[bytes]:
    """Every non-blank line of every input file, streamed in large ranged reads."""
    for uri in uris:
        bucket, path = _split_gcs_uri(uri)
        with client.bucket(bucket).blob(path).open("rb", chunk_size=_IO_CHUNK) as reader:
            rest = b""
            while chunk := reader.read(_IO_CHUNK):
                pieces = (rest + chunk).split(b"\n")
                rest = pieces.pop()
                yield from (piece for piece in pieces if piece.strip())
            if rest.strip():
                yield rest


class _PredictionsFile:
    """``{prefix}/prediction-model-{time}/predictions.jsonl``, built a shuffled block at a time.

    Lines are spooled to a local temporary file and published with one streamed simple upload
    at the end. The emulator keeps an object as the bytes of the request that uploaded it, so
    this costs the object's size once; a resumable upload would cost it about three times
    over (it grows the object chunk by chunk, then copies it). Nothing is visible in the
    bucket until the file is whole, and a job that answers nothing makes no folder.
    """

    def __init__(self, spool: IO[bytes], gcs_url: str, prefix: str, created_at: float) -> None:
        stamp = datetime.fromtimestamp(created_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.directory = f"{prefix.rstrip('/')}/prediction-model-{stamp}"
        self.spool, self.gcs_url = spool, gcs_url
        self.block: list[bytes] = []
        self.blocks_written = 0

    def add(self, prediction: dict[str, Any], seed: int) -> None:
        self.block.append(orjson.dumps(prediction))
        if len(self.block) >= _OUTPUT_BLOCK:
            self._flush(seed)

    def _flush(self, seed: int) -> None:
        if not self.block:
            return
        random.Random(f"{seed}:{self.blocks_written}").shuffle(self.block)
        self.spool.write(b"\n".join(self.block) + b"\n")
        self.block = []
        self.blocks_written += 1

    def publish(self, seed: int) -> str | None:
        """Upload the file; the folder's URI, or None when there was nothing to write."""
        self._flush(seed)
        if not self.blocks_written:
            return None
        spool, size = self.spool, self.spool.tell()
        spool.seek(0)
        bucket, path = _split_gcs_uri(f"{self.directory}/predictions.jsonl")
        response = httpx.post(
            f"{self.gcs_url}/upload/storage/v1/b/{quote(bucket, safe='')}/o",
            params={"uploadType": "media", "name": path},
            # Not application/jsonl: the emulator parses any application/json* body as JSON.
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            content=iter(lambda: spool.read(_UPLOAD_PIECE), b""),
            timeout=_UPLOAD_TIMEOUT,
        )
        response.raise_for_status()
        return self.directory


# -- running a job: every request answered once, when the job ends -------------------------------


def _run(vertex: _VertexJob, client: storage.Client, gcs_url: str, model: FakeModel) -> None:
    """Answer the requests that ran before the job ended and publish ``predictions.jsonl``."""
    timeline, faults = vertex.timeline, vertex.job.faults
    if timeline.ending is Ending.FAIL:
        return
    answerer = _Answerer(vertex.job_id, vertex.spec.model, faults, model, timeline)
    counts = _Counts()
    try:
        with tempfile.TemporaryFile(prefix="batchline-vertex-") as spool:
            output = _PredictionsFile(
                spool, gcs_url, vertex.spec.output_prefix, timeline.created_at
            )
            for index, raw in enumerate(_request_lines(client, vertex.spec.input_uris)):
                line = _parse_line(raw)
                custom_id = _custom_id(line, index)
                if not timeline.finished(custom_id, faults):
                    counts.incomplete += 1
                    continue
                prediction, succeeded = answerer.predict(line, custom_id)
                counts.successful += succeeded
                counts.failed += not succeeded
                output.add(prediction, faults.seed)
            vertex.output_dir = output.publish(faults.seed)
    except Exception as exc:  # e.g. the input deleted mid-job: fail the job, not every poll
        vertex.broke = True
        message = f"Internal error while running the job: {exc!r}"
        vertex.error = {"code": _RPC_INTERNAL, "message": message}
        return
    vertex.counts = counts


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return line if isinstance(line, dict) else None


def _custom_id(line: dict[str, Any] | None, index: int) -> str:
    """``key`` beside ``request``, else ``request.labels.custom_id``, else the line's index."""
    if line is not None:
        if line.get("key") is not None:
            return str(line["key"])
        request = line.get("request")
        labels = request.get("labels") if isinstance(request, dict) else None
        if isinstance(labels, dict) and labels.get("custom_id") is not None:
            return str(labels["custom_id"])
    return str(index)


class _Answerer:
    """Turns one input line into its output line: the model's answer, or the injected fault."""

    def __init__(
        self, job_id: str, model_name: str, faults: Faults, model: FakeModel, timeline: Timeline
    ) -> None:
        self.job_id = job_id
        self.model_version = model_name.rsplit("/", 1)[-1]
        self.faults = faults
        self.model = model
        # Lines are written when the job is settled, but stamped as processed while it ran.
        self.run_start = timeline.started_at
        self.run_span = max(0.0, min(timeline.ended_at, time.time()) - timeline.started_at)

    def predict(self, line: dict[str, Any] | None, custom_id: str) -> tuple[dict[str, Any], bool]:
        """The output line, and whether the request succeeded."""
        spread = zlib.crc32(custom_id.encode()) / 2**32
        now = self.run_start + self.run_span * spread
        processed = datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds")
        if line is None:
            return {"status": _NOT_AN_OBJECT_ERROR, "processed_time": processed}, False
        # Every top-level field comes back (``key`` included), and the request whole.
        echoed = {name: value for name, value in line.items() if name != "request"}
        request = echoed["request"] = line.get("request")
        if not isinstance(request, dict) or not request.get("contents"):
            return {**echoed, "status": _NO_CONTENTS_ERROR, "processed_time": processed}, False
        fault = self.faults.line_fault(custom_id)
        if fault is LineFault.ERROR:
            return {**echoed, "status": _LINE_ERROR, "processed_time": processed}, False
        response = self._response(request, custom_id, fault, now)
        return {**echoed, "status": "", "response": response, "processed_time": processed}, True

    def _response(
        self, request: dict[str, Any], custom_id: str, fault: LineFault | None, now: float
    ) -> dict[str, Any]:
        """A GenerateContentResponse with the fields real batch predictions carry."""
        digest = hashlib.blake2b(f"{self.job_id}:{custom_id}".encode(), digest_size=24).digest()
        unit = int.from_bytes(digest[16:], "big") / 2**64
        prompt_chars = _prompt_chars(request)
        # Keys in the order real predictions have them (alphabetical, as Vertex writes them).
        response: dict[str, Any] = {}
        if fault is LineFault.REFUSAL:
            response.update(_refusal(prompt_blocked=refused_prompt(custom_id)))
        # The model answers a moment before the line is written (about 0.6 s in the real files).
        response["createTime"] = _rfc3339(max(self.run_start, now - 0.6 * unit))
        response["modelVersion"] = self.model_version
        if fault is LineFault.REFUSAL:
            response["responseId"] = _response_id(digest)
            response["usageMetadata"] = _usage(prompt_chars, 0)
            return dict(sorted(response.items()))
        config = _field(request, "generationConfig", "generation_config") or {}
        text = self._text(request, config, custom_id, fault)
        finish_reason, output_tokens = "STOP", FakeModel.count_tokens(text)
        if fault is LineFault.TRUNCATED:
            text, finish_reason = cut_short(text), "MAX_TOKENS"
            limit = _field(config, "maxOutputTokens", "max_output_tokens")
            output_tokens = int(limit) if limit else FakeModel.count_tokens(text)
        candidate = {
            "avgLogprobs": -(0.02 + 0.8 * unit),
            "content": {"parts": [{"text": text}], "role": "model"},
            "finishReason": finish_reason,
        }
        response["candidates"] = [candidate]
        response["responseId"] = _response_id(digest)
        response["usageMetadata"] = _usage(prompt_chars, output_tokens)
        return dict(sorted(response.items()))

    def _text(
        self,
        request: dict[str, Any],
        config: dict[str, Any],
        custom_id: str,
        fault: LineFault | None,
    ) -> str:
        schema = _field(config, "responseSchema", "response_schema") or _field(
            config, "responseJsonSchema", "response_json_schema"
        )
        answer = self.model.answer(custom_id, schema, request)
        if schema and fault is LineFault.SCHEMA_VIOLATION:
            answer = violate_schema(_decoded(answer), schema)
        # Gemini pretty-prints JSON answers with two-space indents (see the real predictions).
        text = answer if isinstance(answer, str) else _pretty_json(answer)
        if fault is LineFault.INVALID_JSON:
            return break_json(text)
        return text


def _response_id(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def _pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _decoded(answer: Any) -> Any:
    """A scripted answer given as JSON text, parsed, so that it can be spoiled like any other."""
    if isinstance(answer, str):
        try:
            return orjson.loads(answer)
        except orjson.JSONDecodeError:
            return answer
    return answer


def refused_prompt(custom_id: str) -> bool:
    """For a refusal: whether the prompt is blocked (else the answer), the same way every run."""
    return zlib.crc32(f"refusal:{custom_id}".encode()) % 2 == 0


def _refusal(*, prompt_blocked: bool) -> dict[str, Any]:
    """Gemini refuses in two shapes: the prompt blocked, or the candidate stopped for safety."""
    rating = {
        "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
        "probability": "HIGH",
        "probabilityScore": 0.93,
        "severity": "HARM_SEVERITY_HIGH",
        "severityScore": 0.88,
        "blocked": True,
    }
    if prompt_blocked:
        feedback = {
            "blockReason": "SAFETY",
            "blockReasonMessage": "The prompt was blocked due to safety reasons.",
            "safetyRatings": [rating],
        }
        return {"promptFeedback": feedback}
    return {"candidates": [{"finishReason": "SAFETY", "safetyRatings": [rating]}]}


def _usage(prompt_chars: int, output_tokens: int) -> dict[str, Any]:
    prompt_tokens = max(1, prompt_chars // 4)
    usage: dict[str, Any] = {"billablePromptUsage": {"textCount": prompt_chars}}
    if output_tokens:
        usage["candidatesTokenCount"] = output_tokens
        usage["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": output_tokens}]
    usage["promptTokenCount"] = prompt_tokens
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt_tokens}]
    usage["totalTokenCount"] = prompt_tokens + output_tokens
    # Real batch predictions say ON_DEMAND here, not BATCH (see the real predictions files).
    usage["trafficType"] = "ON_DEMAND"
    return usage


def _prompt_chars(request: dict[str, Any]) -> int:
    contents = list(request.get("contents") or [])
    system = _field(request, "systemInstruction", "system_instruction")
    if isinstance(system, dict):
        contents.append(system)
    return sum(
        len(part.get("text") or "")
        for content in contents
        if isinstance(content, dict)
        for part in content.get("parts") or []
        if isinstance(part, dict)
    )


def _field(source: dict[str, Any], camel: str, snake: str) -> Any:
    """Vertex accepts both spellings of a proto field (the real predictions echo snake_case)."""
    value = source.get(camel)
    return source.get(snake) if value is None else value


# -- the HTTP side ---------------------------------------------------------------------------------


def build_app(ctx: SandboxContext) -> Starlette:
    """The Vertex AI app, mounted by the sandbox at ``/google`` (``sb.google_base_url``)."""
    api = _JobsApi(ctx)
    jobs = "/{version}/projects/{project}/locations/{location}/batchPredictionJobs"
    return Starlette(
        routes=[
            Route(jobs, api.create, methods=["POST"]),
            Route(jobs, api.list_jobs, methods=["GET"]),
            Route(jobs + "/{job_ref}", api.one_job, methods=["GET", "POST", "DELETE"]),
            Route("/{path:path}", _not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ],
        middleware=[Middleware(_Gate, ctx=ctx)],
    )


def google_error(code: int, message: str, status: str | None = None) -> JSONResponse:
    """An error in Google's JSON shape, which ``google.genai.errors.APIError`` parses."""
    status = status or _HTTP_STATUS.get(code, "UNKNOWN")
    return JSONResponse({"error": {"code": code, "message": message, "status": status}}, code)


class _Gate:
    """Checks the bearer token, then injects HTTP faults, before any route runs (as Google does)."""

    def __init__(self, app: ASGIApp, ctx: SandboxContext) -> None:
        self.app, self.ctx = app, ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        rejection: Response | None = None
        if scheme.lower() != "bearer" or not token.strip():
            message = _API_KEY_REJECTED if "x-goog-api-key" in headers else _NO_CREDENTIAL
            rejection = google_error(401, message)
        elif (status := self.ctx.faults.http_fault()) is not None:
            rejection = google_error(status, _FAULT_MESSAGES[status])
        if rejection is None:
            await self.app(scope, receive, send)
        else:
            await rejection(scope, receive, send)


async def _not_found(request: Request) -> Response:
    return google_error(404, f"The requested URL {request.url.path} was not found on this server.")


class _JobsApi:
    """The batchPredictionJobs collection. Calls that may touch Cloud Storage (creating a job,
    or settling one that has ended) run in the thread pool, never on the event loop."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.lock = threading.Lock()
        self.jobs: dict[str, _VertexJob] = {}
        self.next_seq = 0
        self._local = threading.local()

    def storage(self) -> storage.Client:
        """A Cloud Storage client per thread: a client's HTTP session is not for sharing."""
        client: storage.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = storage.Client(
                project=self.ctx.gcs_project,
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options={"api_endpoint": self.ctx.gcs_url},
            )
        return client

    async def create(self, request: Request) -> Response:
        try:
            spec = _JobSpec.parse(orjson.loads(await request.body()))
        except orjson.JSONDecodeError:
            return google_error(400, "Invalid JSON payload received.")
        except _BadRequest as problem:
            return google_error(400, str(problem))
        project, location = request.path_params["project"], request.path_params["location"]
        vertex = await run_in_threadpool(self._start, project, location, spec)
        # The job as it was created, however long the storage checks took.
        return JSONResponse(vertex.resource(vertex.timeline.created_at))

    def _start(self, project: str, location: str, spec: _JobSpec) -> _VertexJob:
        faults = self.ctx.faults
        problem = _input_problem(self.storage(), spec)
        timeline = Timeline.start(time.time(), faults)
        error = _FAIL_VALIDATION_ERROR if timeline.ending is Ending.FAIL else problem
        if error is not None:
            timeline.ending = Ending.FAIL
        with self.lock:
            while (job_id := _numeric_id()) in self.jobs:
                pass
            vertex = _VertexJob(
                job_id, project, location, self.next_seq, spec, Job(timeline, faults)
            )
            vertex.error = error
            self.jobs[job_id] = vertex
            self.next_seq += 1
        return vertex

    def _settled(self, vertex: _VertexJob, now: float) -> dict[str, Any]:
        """The job as of ``now``, its output written first if it has just ended."""
        vertex.job.settle(
            now, lambda: _run(vertex, self.storage(), self.ctx.gcs_url, self.ctx.model)
        )
        return vertex.resource(now)

    async def list_jobs(self, request: Request) -> Response:
        params = request.query_params
        try:
            page_size = int(params.get("pageSize") or _DEFAULT_PAGE_SIZE)
            before_seq = _decode_page_token(params.get("pageToken"))
            terms = _parse_filter(params.get("filter") or "")
        except ValueError as problem:
            return google_error(400, str(problem))
        page_size = max(1, min(page_size, _MAX_PAGE_SIZE))
        place = (request.path_params["project"], request.path_params["location"])
        now = time.time()
        with self.lock:
            newest_first = sorted(self.jobs.values(), key=lambda vertex: -vertex.seq)
        matching = [
            vertex
            for vertex in newest_first
            if (vertex.project, vertex.location) == place
            and (before_seq is None or vertex.seq < before_seq)
            and _matches(vertex, terms, now)
        ]
        page = matching[:page_size]
        body: dict[str, Any] = {}
        if page:
            views = await run_in_threadpool(lambda: [self._settled(v, now) for v in page])
            body["batchPredictionJobs"] = views
        if len(matching) > page_size:
            body["nextPageToken"] = _encode_page_token(page[-1].seq)
        return JSONResponse(body)

    async def one_job(self, request: Request) -> Response:
        job_id, _, verb = request.path_params["job_ref"].partition(":")
        if (request.method == "POST") != (verb == "cancel") or verb not in ("", "cancel"):
            return await _not_found(request)
        with self.lock:
            vertex = self.jobs.get(job_id)
        params = request.path_params
        if vertex is None or (vertex.project, vertex.location) != (
            params["project"],
            params["location"],
        ):
            return google_error(404, f"The BatchPredictionJob {job_id} does not exist.")
        now = time.time()
        if request.method == "POST":
            return await run_in_threadpool(self._cancel, vertex, now)
        if request.method == "DELETE":
            return await run_in_threadpool(self._delete, vertex, now)
        return JSONResponse(await run_in_threadpool(self._settled, vertex, now))

    def _cancel(self, vertex: _VertexJob, now: float) -> Response:
        """Start cancelling; Vertex answers an empty body, and refuses for a finished job."""
        if not vertex.job.cancel(now):
            state, _ = vertex.state(now)
            if state in _TERMINAL_STATES:
                message = f"Cannot cancel {vertex.name}: the job is in state {state.value}."
                return google_error(400, message, "FAILED_PRECONDITION")
        return JSONResponse({})

    def _delete(self, vertex: _VertexJob, now: float) -> Response:
        """Delete a finished job (Vertex refuses running ones); the answer is a done operation."""
        state, _ = vertex.state(now)
        if state not in _TERMINAL_STATES:
            message = f"{vertex.name} is in state {state.value}; only finished jobs can be deleted."
            return google_error(400, message, "FAILED_PRECONDITION")
        self._settled(vertex, now)  # its output stays, as on Vertex
        with self.lock:
            self.jobs.pop(vertex.job_id, None)
        stamp = _rfc3339(now)
        operation = {
            "name": f"projects/{vertex.project}/locations/{vertex.location}"
            f"/operations/{_numeric_id()}",
            "metadata": {
                "@type": _DELETE_METADATA,
                "genericMetadata": {"createTime": stamp, "updateTime": stamp},
            },
            "done": True,
            "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
        }
        return JSONResponse(operation)


def _numeric_id() -> str:
    """Vertex resource ids are 19-digit numbers; the SDK takes a bare id only if it is numeric."""
    return str(10**18 + secrets.randbelow(9 * 10**18))


def _rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _encode_page_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"before:{seq}".encode()).decode()


def _decode_page_token(token: str | None) -> int | None:
    if not token:
        return None
    try:
        kind, _, seq = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind != "before":
            raise ValueError(kind)
        return int(seq)
    except ValueError:
        raise _BadRequest(f"Invalid page token {token!r}.") from None


# -- list filters: the part of AIP-160 that batchline needs to find its jobs -----------------------

_FILTER_TERM = re.compile(
    r"\s*(?P<field>[A-Za-z_][\w.\-]*)\s*(?P<op>!=|>=|<=|=|>|<|:)\s*"
    r'(?P<value>"(?:[^"\\]|\\.)*"|[^\s"()]+)\s*'
)
_FILTER_AND = re.compile(r"AND\s+")
_FILTER_FIELDS = ("display_name", "state", "create_time", "update_time")


@dataclass(frozen=True)
class _Term:
    field: str
    op: str
    value: str


def _parse_filter(text: str) -> list[_Term]:
    """Terms joined by AND over display_name, state, labels.KEY, create_time and update_time.

    Anything else is refused with 400, so a filter the sandbox does not understand can never
    silently match every job.
    """
    terms: list[_Term] = []
    position, text = 0, text.strip()
    while position < len(text):
        if terms:
            joiner = _FILTER_AND.match(text, position)
            if joiner is None:
                raise _BadRequest(f"Unsupported filter {text!r}: only AND joins terms here.")
            position = joiner.end()
        match = _FILTER_TERM.match(text, position)
        if match is None:
            raise _BadRequest(f"Invalid filter {text!r} at position {position}.")
        value = match["value"]
        term = _Term(match["field"], match["op"], orjson.loads(value) if value[0] == '"' else value)
        if term.field not in _FILTER_FIELDS and not term.field.startswith("labels."):
            raise _BadRequest(f"Unsupported field in filter: {term.field}.")
        if term.field.endswith("_time"):
            try:
                datetime.fromisoformat(term.value)
            except ValueError:
                raise _BadRequest(f"Invalid timestamp in filter: {term.value!r}.") from None
        terms.append(term)
        position = match.end()
    return terms


def _matches(vertex: _VertexJob, terms: list[_Term], now: float) -> bool:
    return all(_term_matches(vertex, term, now) for term in terms)


def _term_matches(vertex: _VertexJob, term: _Term, now: float) -> bool:
    actual: Any
    wanted: Any = term.value
    if term.field.startswith("labels."):
        actual = vertex.spec.labels.get(term.field.removeprefix("labels."))
        if term.op == ":" and term.value == "*":
            return actual is not None
    elif term.field == "display_name":
        actual = vertex.spec.display_name
    elif term.field == "state":
        actual = vertex.state(now)[0].value
    else:
        state_since = vertex.state(now)[1]
        actual = vertex.timeline.created_at if term.field == "create_time" else state_since
        wanted = datetime.fromisoformat(term.value).timestamp()
    if actual is None:
        return term.op == "!="
    comparisons = {
        "=": actual == wanted,
        ":": actual == wanted,
        "!=": actual != wanted,
        ">": actual > wanted,
        ">=": actual >= wanted,
        "<": actual < wanted,
        "<=": actual <= wanted,
    }
    return bool(comparisons[term.op])
