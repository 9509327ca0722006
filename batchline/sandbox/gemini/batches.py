"""The Batch API of the Gemini Developer API: create, get, list, cancel, delete.

Routes as google-genai 3.x calls them with ``vertexai=False`` (its ``batches.py``):
``POST /{v}/models/{model}:batchGenerateContent`` with ``{"batch": {"displayName",
"inputConfig": {"requests": {"requests": [...]}} | {"fileName": "files/..."}}}``;
``GET /{v}/batches/{id}``; ``GET /{v}/batches`` (``pageSize``, ``pageToken``; the list key is
``operations``); ``POST /{v}/batches/{id}:cancel``; ``DELETE /{v}/batches/{id}``.

A batch is a long-running operation: its state and counts are under ``metadata``
(``state`` is ``BATCH_STATE_*``, ``batchStats`` int64 counts as strings), and once it is done,
``metadata.output`` holds ``responsesFile`` (file input) or ``inlinedResponses`` (inline input),
and ``error`` the reason a failed batch failed.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from batchline.sandbox.context import SandboxContext
from batchline.sandbox.gemini.answers import GeminiAnswerer
from batchline.sandbox.gemini.files import FilesApi, StoredFile, resource_id
from batchline.sandbox.google.errors import (
    RPC_CANCELLED,
    RPC_DEADLINE_EXCEEDED,
    RPC_INTERNAL,
    RPC_INVALID_ARGUMENT,
    google_error,
)
from batchline.sandbox.google.schema_check import import_problem
from batchline.sandbox.lifecycle import Ending, Job, Phase, Timeline
from batchline.sandbox.registry import Registry
from batchline.sandbox.spool import json_object
from batchline.sandbox.wire import Refused, rfc3339

#: Inline requests travel in the create call, which may be at most 20 MB
#: (https://ai.google.dev/gemini-api/docs/batch-mode, read 2026-12).
MAX_INLINE_BODY = 20 * 1024 * 1024
#: A batch not done 48 hours after creation expires (same page).
BATCH_LIFETIME = 48 * 3600
_DEFAULT_PAGE_SIZE, _MAX_PAGE_SIZE = 50, 1000
_BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
_OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"

_STATE_FOR_PHASE = {
    Phase.VALIDATING: "BATCH_STATE_PENDING",
    Phase.RUNNING: "BATCH_STATE_RUNNING",
    Phase.FINALIZING: "BATCH_STATE_RUNNING",
    # The Batch API has no cancelling state: a cancel under way still shows as running.
    Phase.CANCELLING: "BATCH_STATE_RUNNING",
    Phase.COMPLETED: "BATCH_STATE_SUCCEEDED",
    Phase.FAILED: "BATCH_STATE_FAILED",
    Phase.EXPIRED: "BATCH_STATE_EXPIRED",
    Phase.CANCELLED: "BATCH_STATE_CANCELLED",
}
TERMINAL_STATES = frozenset(
    {"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_EXPIRED", "BATCH_STATE_CANCELLED"}
)
_ENDING_ERRORS = {
    "BATCH_STATE_EXPIRED": {
        "code": RPC_DEADLINE_EXCEEDED,
        "message": "The batch expired before all requests were processed.",
    },
    "BATCH_STATE_CANCELLED": {"code": RPC_CANCELLED, "message": "The batch was cancelled."},
}
_FAIL_VALIDATION = {
    "code": RPC_INVALID_ARGUMENT,
    "message": "Invalid batch input (sandbox fault: batch_outcome=fail_validation).",
}


@dataclass
class Counts:
    successful: int = 0
    failed: int = 0


@dataclass
class GeminiBatch:
    """One batch: what was asked, its timeline, and what its run produced."""

    batch_id: str
    seq: int
    model: str
    display_name: str
    input_config: dict[str, Any]
    #: (key, request) of every request, in input order.
    requests: list[tuple[str, Any]]
    job: Job
    error: dict[str, Any] | None = None
    counts: Counts | None = None
    responses_file: str | None = None
    inlined: list[dict[str, Any]] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"batches/{self.batch_id}"

    def state(self, now: float) -> str:
        state = _STATE_FOR_PHASE[self.job.timeline.phase(now)]
        if state in TERMINAL_STATES and self.error is not None and self.counts is None:
            return "BATCH_STATE_FAILED"  # refused at creation, or its run broke
        return state

    def resource(self, now: float) -> dict[str, Any]:
        """The batch as the long-running operation the REST API returns."""
        timeline = self.job.timeline
        state = self.state(now)
        total = len(self.requests)
        meta: dict[str, Any] = {
            "@type": _BATCH_TYPE,
            "model": self.model,
            "displayName": self.display_name,
            "inputConfig": self.input_config,
            "createTime": rfc3339(timeline.created_at),
            "updateTime": rfc3339(min(now, timeline.ended_at)),
            "state": state,
            "name": self.name,
        }
        done = state in TERMINAL_STATES
        if done and self.counts is not None:
            ok, failed = self.counts.successful, self.counts.failed
        else:
            ok = int(total * timeline.progress(now)) if timeline.ending is Ending.COMPLETE else 0
            failed = 0
        stats = {
            "requestCount": total,
            "successfulRequestCount": ok,
            "failedRequestCount": failed,
            "pendingRequestCount": total - ok - failed,
        }
        meta["batchStats"] = {key: str(value) for key, value in stats.items() if value}
        body: dict[str, Any] = {"name": self.name, "metadata": meta}
        if not done:
            return body
        meta["endTime"] = rfc3339(timeline.ended_at)
        output: dict[str, Any] = {}
        if self.responses_file is not None:
            output["responsesFile"] = self.responses_file
        elif self.inlined is not None:
            output["inlinedResponses"] = {"inlinedResponses": self.inlined}
        if output:
            meta["output"] = output
        body["done"] = True
        error = self.error or _ENDING_ERRORS.get(state)
        if error is not None and state != "BATCH_STATE_SUCCEEDED":
            body["error"] = dict(error)
        else:
            body["response"] = {"@type": _OUTPUT_TYPE, **output}
        return body


class BatchesApi:
    """The batches collection, with the files it reads and writes."""

    def __init__(self, ctx: SandboxContext, files: FilesApi) -> None:
        self.ctx = ctx
        self.files = files
        self.batches: Registry[GeminiBatch] = Registry(_no_such_batch)
        self.next_seq = 0

    async def create(self, request: Request) -> Response:
        model, _, verb = request.path_params["model_ref"].partition(":")
        if verb != "batchGenerateContent":
            return google_error(404, f"Method models/{model}:{verb} not found.", "NOT_FOUND")
        raw = await request.body()
        if len(raw) > MAX_INLINE_BODY:
            return google_error(
                400, f"Request payload size exceeds the limit: {MAX_INLINE_BODY} bytes."
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return google_error(400, "Invalid JSON payload received.")
        batch = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(batch, dict):
            return google_error(400, "Invalid JSON payload received: 'batch' is required.")
        created = await run_in_threadpool(self._create, f"models/{model}", batch)
        return JSONResponse(created.resource(created.job.timeline.created_at))

    def _create(self, model: str, batch: dict[str, Any]) -> GeminiBatch:
        if not batch.get("displayName"):
            raise Refused(google_error(400, "batch.display_name is required."))
        config = batch.get("inputConfig") or {}
        inline = (
            (config.get("requests") or {}).get("requests") if isinstance(config, dict) else None
        )
        file_name = config.get("fileName") if isinstance(config, dict) else None
        if (inline is None) == (file_name is None):
            raise Refused(
                google_error(
                    400,
                    "Exactly one of input_config.requests and input_config.file_name must be set.",
                )
            )
        if inline is not None:
            if not inline:
                raise Refused(google_error(400, "input_config.requests.requests is empty."))
            requests = [_inline_request(entry, index) for index, entry in enumerate(inline)]
        else:
            requests = _file_requests(self.files.find(str(file_name)))
        faults = self.ctx.faults
        timeline = Timeline.start(time.time(), faults)
        if timeline.duration > BATCH_LIFETIME:  # never done within 48 h: it expires then
            timeline.duration, timeline.ending = BATCH_LIFETIME, Ending.EXPIRE
        with self.batches.lock:
            while (batch_id := resource_id()) in self.batches:
                pass
            created = GeminiBatch(
                batch_id,
                self.next_seq,
                model,
                str(batch["displayName"]),
                config,
                requests,
                Job(timeline, faults),
            )
            if timeline.ending is Ending.FAIL:
                created.error = dict(_FAIL_VALIDATION)
            self.batches.add(batch_id, created)
            self.next_seq += 1
        return created

    def _settled(self, batch: GeminiBatch, now: float) -> dict[str, Any]:
        batch.job.settle(now, lambda: self._run(batch))
        return batch.resource(now)

    def _run(self, batch: GeminiBatch) -> None:
        """Answer the requests that ran before the batch ended, into a file or inline."""
        timeline, faults = batch.job.timeline, batch.job.faults
        if timeline.ending is Ending.FAIL:
            return
        try:
            for _, request in batch.requests:
                problem = import_problem({"key": "", "request": request})
                if problem is not None:
                    batch.error = problem
                    return
            answerer = GeminiAnswerer(batch.batch_id, batch.model, faults, self.ctx.model, timeline)
            counts, entries = Counts(), []
            for key, request in batch.requests:
                if not timeline.finished(key, faults):
                    continue
                entry, succeeded = answerer.answer(key, request)
                counts.successful += succeeded
                counts.failed += not succeeded
                entries.append((key, entry))
            if "fileName" in batch.input_config:
                lines = [orjson.dumps({"key": key, **entry}) for key, entry in entries]
                stored = self.files.add_generated(lines, f"responses of {batch.name}")
                batch.responses_file = stored.name
            else:
                batch.inlined = [{**entry, "metadata": {"key": key}} for key, entry in entries]
        except Exception as exc:  # a broken run fails the batch, not every poll
            batch.error = {
                "code": RPC_INTERNAL,
                "message": f"Internal error while running the batch: {exc!r}",
            }
            return
        batch.counts = counts

    async def list_batches(self, request: Request) -> Response:
        params = request.query_params
        try:
            page_size = int(params.get("pageSize") or _DEFAULT_PAGE_SIZE)
            before_seq = _decode_page_token(params.get("pageToken"))
        except ValueError:
            return google_error(400, "Invalid page size or page token.")
        page_size = max(1, min(page_size, _MAX_PAGE_SIZE))
        now = time.time()
        matching = [
            b for b in self.batches.newest_first() if before_seq is None or b.seq < before_seq
        ]
        page = matching[:page_size]
        body: dict[str, Any] = {}
        if page:
            body["operations"] = await run_in_threadpool(
                lambda: [self._settled(b, now) for b in page]
            )
        if len(matching) > page_size:
            body["nextPageToken"] = _encode_page_token(page[-1].seq)
        return JSONResponse(body)

    async def one_batch(self, request: Request) -> Response:
        batch_id, _, verb = request.path_params["batch_ref"].partition(":")
        if (request.method == "POST") != (verb == "cancel") or verb not in ("", "cancel"):
            return google_error(
                404,
                f"The requested URL {request.url.path} was not found on this server.",
                "NOT_FOUND",
            )
        batch = self.batches.find(batch_id)
        now = time.time()
        if request.method == "POST":
            return await run_in_threadpool(self._cancel, batch, now)
        if request.method == "DELETE":
            self.batches.pop(batch_id)
            return JSONResponse({})
        return JSONResponse(await run_in_threadpool(self._settled, batch, now))

    def _cancel(self, batch: GeminiBatch, now: float) -> Response:
        """Start cancelling; the API answers an empty body, and refuses for a finished batch."""
        if not batch.job.cancel(now):
            state = batch.state(now)
            if state in TERMINAL_STATES:
                message = f"Batch {batch.name} is in state {state} and cannot be cancelled."
                return google_error(400, message, "FAILED_PRECONDITION")
        return JSONResponse({})


def _inline_request(entry: Any, index: int) -> tuple[str, Any]:
    """``{"request": GenerateContentRequest, "metadata": {"key": ...}}``; without a key, the
    request's position names it (inline responses come back in input order)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        raise Refused(
            google_error(400, f"input_config.requests.requests[{index}].request is required.")
        )
    metadata = entry.get("metadata")
    key = metadata.get("key") if isinstance(metadata, dict) else None
    return (str(key) if key is not None else str(index)), entry["request"]


def _file_requests(stored: StoredFile) -> list[tuple[str, Any]]:
    """The ``{"key", "request"}`` lines of an uploaded JSONL file."""
    requests: list[tuple[str, Any]] = []
    for index, raw in enumerate(stored.lines()):
        line = json_object(raw)
        if line is None or "request" not in line:
            message = f'Line {index + 1} of {stored.name} is not a {{"key", "request"}} object.'
            raise Refused(google_error(400, message))
        key = line.get("key")
        requests.append((str(key) if key is not None else str(index), line["request"]))
    if not requests:
        raise Refused(google_error(400, f"{stored.name} holds no requests."))
    return requests


def _no_such_batch(batch_id: str) -> Response:
    return google_error(404, f"Batch batches/{batch_id} not found.", "NOT_FOUND")


def _encode_page_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"before:{seq}".encode()).decode()


def _decode_page_token(token: str | None) -> int | None:
    if not token:
        return None
    kind, _, seq = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
    if kind != "before":
        raise ValueError(kind)
    return int(seq)
