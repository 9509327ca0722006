"""OpenAI's Files and Batch APIs for ``/v1/chat/completions``, as the official SDK sees them.

Mounted at ``/openai``, so ``OpenAI(base_url=sb.openai_base_url)`` reaches ``/openai/v1/...``.
Files live on disk (``Spool``); a batch keeps only its input's line offsets and output order,
and writes its output once, line by line, when a client first sees it ended.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from batchline.sandbox.core import (
    FakeModel,
    Faults,
    FrontDoor,
    LineFault,
    SandboxContext,
    Spool,
    output_order,
    random_hex,
    random_token,
    read_lines,
    written_answer,
)
from batchline.sandbox.lifecycle import Ending, Job, Phase, Ran, Timeline

#: The one endpoint the sandbox answers for; the SDK accepts others, the sandbox refuses them.
ENDPOINT = "/v1/chat/completions"
#: OpenAI's per-batch limits (module constants so a test can lower them).
MAX_REQUESTS = 50_000
MAX_INPUT_BYTES = 200 * 1024 * 1024
#: Validation stops listing problems after this many, as a long list helps nobody.
MAX_REPORTED_ERRORS = 10
#: Uploaded batch files are kept 30 days unless the upload asks otherwise.
FILE_LIFETIME = 30 * 24 * 3600
BATCH_LIFETIME = 24 * 3600

REFUSAL = "I'm sorry, but I can't help with that request."

_STATUS = {
    Phase.VALIDATING: "validating",
    Phase.RUNNING: "in_progress",
    Phase.FINALIZING: "finalizing",
    Phase.CANCELLING: "cancelling",
    Phase.COMPLETED: "completed",
    Phase.FAILED: "failed",
    Phase.EXPIRED: "expired",
    Phase.CANCELLED: "cancelled",
}
_MOMENT_FIELDS = (
    ("in_progress_at", Phase.RUNNING),
    ("finalizing_at", Phase.FINALIZING),
    ("completed_at", Phase.COMPLETED),
    ("failed_at", Phase.FAILED),
    ("expired_at", Phase.EXPIRED),
    ("cancelling_at", Phase.CANCELLING),
    ("cancelled_at", Phase.CANCELLED),
)
#: Error-file entries for requests that never ran: (code, message).
_UNRUN = {
    Ending.EXPIRE: (
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    ),
    Ending.CANCEL: (
        "batch_cancelled",
        "This request was not executed because the batch was cancelled.",
    ),
}
#: Bodies for ``LineFault.ERROR``: a server error, or a request the model could not take.
_LINE_ERRORS = (
    (
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
        None,
    ),
    (
        400,
        "This model's maximum context length is 128000 tokens. However, your messages resulted in"
        " 131072 tokens. Please reduce the length of the messages.",
        "invalid_request_error",
        "messages",
        "context_length_exceeded",
    ),
)


def error(
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> JSONResponse:
    """OpenAI's error envelope, which the SDK turns into ``openai.APIStatusError`` subclasses."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


# -- records --------------------------------------------------------------------------------------
@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    path: Path
    size: int
    created_at: int
    expires_at: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "object": "file",
            "id": self.id,
            "purpose": self.purpose,
            "filename": self.filename,
            "bytes": self.size,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "status": "processed",
            "status_details": None,
        }


@dataclass
class Plan:
    """What validation learned about an input file; small enough to keep for 50,000 lines."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    spans: array[int] = field(default_factory=lambda: array("Q"))  # start, end of each request line
    order: array[int] = field(default_factory=lambda: array("L"))  # output order, as line numbers
    #: (answered, failed) request counts if all run, and if only ``partial_share`` runs.
    all_counts: tuple[int, int] = (0, 0)
    some_counts: tuple[int, int] = (0, 0)

    def counts(self, ran: Ran) -> tuple[int, int]:
        return {Ran.ALL: self.all_counts, Ran.SOME: self.some_counts}.get(ran, (0, 0))


@dataclass
class Batch:
    id: str
    job: Job
    model_source: FakeModel
    input_file_id: str
    input_path: Path  # a hard link of the input, so deleting the file does not starve the batch
    metadata: dict[str, str] | None
    plan: Plan
    output_file_id: str | None = None
    error_file_id: str | None = None
    done_counts: tuple[int, int] = (0, 0)
    tokens: tuple[int, int] = (0, 0)


@dataclass
class Store:
    ctx: SandboxContext
    spool: Spool = field(default_factory=lambda: Spool("openai"))
    files: dict[str, StoredFile] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)

    def add_file(self, stored: StoredFile) -> None:
        with self.ctx.lock:
            self.files[stored.id] = stored


def _openai_id(prefix: str, now: float, random_part: int = 24) -> str:
    """OpenAI's batch ids start with the creation time in hex (``batch_6920b256...``)."""
    return f"{prefix}{int(now):08x}{random_hex(random_part)}"


# -- the front door: key check and injected HTTP faults -------------------------------------------
def refusal(ctx: SandboxContext, headers: Headers) -> Response | None:
    """OpenAI's answer to a call without a bearer key, or to an injected HTTP fault."""
    scheme, _, key = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return error(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="invalid_api_key",
        )
    status = ctx.faults.http_fault()
    if status == 429:
        message = "Rate limit reached for requests. Please try again later."
        return error(429, message, "requests", code="rate_limit_exceeded")
    if status == 503:
        return error(
            503, "The engine is currently overloaded, please try again later.", "server_error"
        )
    if status is not None:
        message = "The server had an error while processing your request. Sorry about that!"
        return error(status, message, "server_error")
    return None


# -- multipart upload, streamed to disk -----------------------------------------------------------
class MultipartReader:
    """A small streaming ``multipart/form-data`` parser: form fields to memory, the file to disk.

    Starlette's own form parsing needs ``python-multipart``; this one needs nothing and never holds
    the file in memory, which matters for 200 MB batch inputs.
    """

    def __init__(self, boundary: bytes, sink: Path) -> None:
        self.delimiter = b"--" + boundary
        self.separator = b"\r\n--" + boundary
        self.sink = sink
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.size = 0
        self.done = False
        self._buffer = bytearray()
        self._state = "preamble"
        self._name = ""
        self._value = bytearray()
        self._file: BinaryIO | None = None

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        while not self.done and self._step():
            pass

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _step(self) -> bool:
        buffer = self._buffer
        if self._state in ("preamble", "boundary"):
            index = buffer.find(self.delimiter)
            if index < 0:
                return False
            del buffer[: index + len(self.delimiter)]
            self._state = "after_boundary"
        elif self._state == "after_boundary":
            if buffer[:2] == b"--":
                self.done = True
                return False
            index = buffer.find(b"\r\n")
            if index < 0:
                return False
            del buffer[: index + 2]
            self._state = "headers"
        elif self._state == "headers":
            index = buffer.find(b"\r\n\r\n")
            if index < 0:
                return False
            self._open_part(bytes(buffer[:index]).decode("latin-1"))
            del buffer[: index + 4]
            self._state = "body"
        else:
            index = buffer.find(self.separator)
            if index < 0:
                keep = len(self.separator) - 1
                if len(buffer) > keep:
                    self._write(buffer[:-keep])
                    del buffer[:-keep]
                return False
            self._write(buffer[:index])
            del buffer[: index + 2]
            self._close_part()
            self._state = "boundary"
        return True

    def _open_part(self, headers: str) -> None:
        name = re.search(r'\bname="([^"]*)"', headers)
        filename = re.search(r'\bfilename="([^"]*)"', headers)
        self._name = name.group(1) if name else ""
        if filename is not None:
            self.filename = filename.group(1)
            self._file = self.sink.open("wb")

    def _write(self, data: bytearray) -> None:
        if self._file is not None:
            self._file.write(data)
            self.size += len(data)
        elif len(self._value) < 65536:
            self._value += data

    def _close_part(self) -> None:
        if self._file is None:
            self.fields[self._name] = self._value.decode()
        self.close()
        self._value = bytearray()


# -- validation -----------------------------------------------------------------------------------
class LineProblem(Exception):
    """Why one line of an input file is not a request OpenAI would run."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


def _line_error(
    code: str, message: str, line: int | None, param: str | None = None
) -> dict[str, Any]:
    """One entry of a failed batch's ``errors.data``."""
    return {"code": code, "message": message, "param": param, "line": line}


def _request_lines(path: Path) -> Iterator[tuple[int, int, int, bytes]]:
    """(line number, start, end, bytes) of each non-blank line of a JSONL file."""
    offset = 0
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            start, offset = offset, offset + len(raw)
            if raw.strip():
                yield number, start, offset, raw


def validate(path: Path, endpoint: str, faults: Faults) -> Plan:
    """Check an input file the way OpenAI does before a batch starts; collect its problems.

    Requests are read one line at a time and not kept: the plan holds where each line is, the
    output order, and how many requests will fail, which the running counts need.
    """
    plan = Plan()
    if path.stat().st_size > MAX_INPUT_BYTES:
        limit = MAX_INPUT_BYTES // (1024 * 1024)
        message = f"The input file is larger than the {limit} MB a batch accepts."
        plan.errors.append(_line_error("file_too_large", message, None, "input_file_id"))
        return plan
    custom_ids: list[str] = []
    seen: set[str] = set()
    counts = [0, 0, 0, 0]  # answered/failed if all run, then if some run
    for number, start, end, raw in _request_lines(path):
        try:
            custom_id = checked_custom_id(raw, endpoint, seen, plan)
        except LineProblem as problem:
            plan.errors.append(_line_error(problem.code, problem.message, number, problem.param))
            if len(plan.errors) >= MAX_REPORTED_ERRORS:
                return plan
            continue
        custom_ids.append(custom_id)
        plan.spans.extend((start, end))
        failed = faults.line_fault(custom_id) is LineFault.ERROR
        counts[failed] += 1
        if faults.finishes_before_end(custom_id):
            counts[2 + failed] += 1
    if not plan.errors and not custom_ids:
        plan.errors.append(_line_error("empty_file", "The batch input file is empty.", None))
    if len(custom_ids) > MAX_REQUESTS:
        message = (
            f"The batch input file has {len(custom_ids):,} requests; a batch takes at most"
            f" {MAX_REQUESTS:,}."
        )
        plan.errors.append(_line_error("too_many_tasks", message, None))
    plan.order = array("L", output_order(custom_ids, faults.seed))
    plan.all_counts, plan.some_counts = (counts[0], counts[1]), (counts[2], counts[3])
    return plan


def checked_custom_id(raw: bytes, endpoint: str, seen: set[str], plan: Plan) -> str:
    """The line's custom_id, once the line passes OpenAI's checks; else ``LineProblem``."""
    try:
        request = orjson.loads(raw)
    except orjson.JSONDecodeError:
        request = None
    if not isinstance(request, dict):
        raise LineProblem("invalid_json_line", "This line is not parseable as valid JSON.")
    custom_id = request.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise LineProblem(
            "invalid_request", "Missing required parameter: 'custom_id'.", "custom_id"
        )
    if custom_id in seen:
        raise LineProblem(
            "duplicate_custom_id",
            "The custom_id for this request is a duplicate of another request. The custom_id"
            " parameter must be unique for each request in a batch.",
            "custom_id",
        )
    seen.add(custom_id)
    if request.get("method") != "POST":
        raise LineProblem("invalid_request", "The request method must be 'POST'.", "method")
    if request.get("url") != endpoint:
        raise LineProblem(
            "url_mismatch",
            f"The URL '{request.get('url')}' does not match the batch endpoint '{endpoint}'.",
            "url",
        )
    body = request.get("body")
    model = body.get("model") if isinstance(body, dict) else None
    if not isinstance(model, str) or not model:
        message = "Missing required parameter: 'body.model'."
        raise LineProblem("invalid_request", message, "body.model")
    if plan.model is None:
        plan.model = model
    elif model != plan.model:
        raise LineProblem(
            "model_mismatch",
            f"The model '{model}' differs from the model '{plan.model}' of earlier requests; a"
            " batch takes one model.",
            "body.model",
        )
    return custom_id


# -- answers --------------------------------------------------------------------------------------
@dataclass
class Ask:
    """What a chat request asks for: a JSON schema for the content, or a forced function call."""

    schema: dict[str, Any] | None = None
    tool: str | None = None
    #: A call forced by name ends with ``finish_reason: "stop"``; ``"required"`` with "tool_calls".
    tool_named: bool = False


def read_ask(body: dict[str, Any]) -> Ask:
    """What the body asks for: ``response_format`` first, then a forced function tool."""
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema":
            return Ask(schema=(response_format.get("json_schema") or {}).get("schema") or {})
        if response_format.get("type") == "json_object":
            return Ask(schema={"type": "object", "properties": {"answer": {"type": "string"}}})
    functions = [
        tool["function"]
        for tool in body.get("tools") or []
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
    ]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        wanted, named = choice["function"].get("name"), True
    elif choice == "required" and len(functions) == 1:
        wanted, named = functions[0].get("name"), False
    else:
        return Ask()
    for function in functions:
        if function.get("name") == wanted:
            return Ask(schema=function.get("parameters") or {}, tool=wanted, tool_named=named)
    return Ask()


def prompt_tokens(body: dict[str, Any], schema: dict[str, Any] | None) -> int:
    """Plausible prompt size: the messages' text, a few tokens a message, and the schema."""
    texts: list[str] = []
    messages = body.get("messages") or []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(p["text"] for p in content if isinstance(p, dict) and "text" in p)
    if schema:
        texts.append(orjson.dumps(schema).decode())
    return FakeModel.count_tokens("".join(texts)) + 3 * len(messages) + 3


def completion(
    custom_id: str, body: dict[str, Any], model: FakeModel, fault: LineFault | None, created: int
) -> dict[str, Any]:
    """A ``chat.completion`` body shaped like the real batch output lines."""
    ask = read_ask(body)
    message: dict[str, Any] = {"role": "assistant", "content": None}
    finish_reason = "length" if fault is LineFault.TRUNCATED else "stop"
    if fault is LineFault.REFUSAL:
        written = REFUSAL
        message["refusal"] = REFUSAL
    else:
        written = written_answer(model.answer(custom_id, ask.schema, body), ask.schema, fault)
        if ask.tool is None:
            message["content"] = written
        else:
            call = {"name": ask.tool, "arguments": written}
            message["tool_calls"] = [
                {"id": f"call_{random_token(24)}", "type": "function", "function": call}
            ]
            if not ask.tool_named and finish_reason == "stop":
                finish_reason = "tool_calls"
        message["refusal"] = None
    message["annotations"] = []
    prompt = prompt_tokens(body, ask.schema)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    written_tokens = FakeModel.count_tokens(written)
    if fault is LineFault.TRUNCATED and isinstance(limit, int):
        written_tokens = limit
    return {
        "id": f"chatcmpl-{random_token(29)}",
        "object": "chat.completion",
        "created": created,
        "model": body.get("model"),
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": written_tokens,
            "total_tokens": prompt + written_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": None,
    }


# -- output files ---------------------------------------------------------------------------------
class ResultFiles:
    """The output and error JSONL files of one batch, each created on its first line.

    Lines are written with ``json.dumps``'s default separators, as OpenAI's own files are.
    """

    def __init__(self, store: Store, batch: Batch) -> None:
        self.store = store
        self.batch = batch
        self.now = store.ctx.now()
        self._streams: dict[str, BinaryIO] = {}
        self._names: dict[str, str] = {}

    def write(
        self, kind: str, custom_id: str, response: dict[str, Any] | None, err: dict[str, Any] | None
    ) -> None:
        line = {
            "id": _openai_id("batch_req_", self.now),
            "custom_id": custom_id,
            "response": response,
            "error": err,
        }
        stream = self._streams.get(kind)
        if stream is None:
            self._names[kind] = f"file-{random_token(22)}"
            stream = self.store.spool.path(self._names[kind]).open("wb", buffering=1 << 20)
            self._streams[kind] = stream
        stream.write(json.dumps(line).encode() + b"\n")

    def publish(self) -> tuple[str | None, str | None]:
        """Close the files and make them downloadable; (output_file_id, error_file_id)."""
        for kind, stream in self._streams.items():
            stream.close()
            path = self.store.spool.path(self._names[kind])
            self.store.add_file(
                StoredFile(
                    id=self._names[kind],
                    filename=f"{self.batch.id}_{kind}.jsonl",
                    purpose="batch_output",
                    path=path,
                    size=path.stat().st_size,
                    created_at=int(self.now),
                    expires_at=int(self.now) + FILE_LIFETIME,
                )
            )
        return self._names.get("output"), self._names.get("error")


def failed_response(custom_id: str) -> dict[str, Any]:
    """An error-file ``response`` for ``LineFault.ERROR``: a 500 or a 400, by id."""
    status, message, kind, param, code = _LINE_ERRORS[zlib.crc32(custom_id.encode()) % 2]
    err = {"message": message, "type": kind, "param": param, "code": code}
    return {"status_code": status, "request_id": random_hex(32), "body": {"error": err}}


def malformed_response(exc: Exception) -> dict[str, Any]:
    """An error-file ``response`` for a request body the sandbox could not answer."""
    err = {
        "message": f"Invalid request body: {exc!r}",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    return {"status_code": 400, "request_id": random_hex(32), "body": {"error": err}}


def write_results(store: Store, batch: Batch) -> None:
    """Answer every request of an ended batch, in shuffled order, one line at a time."""
    timeline, faults, plan = batch.job.timeline, batch.job.faults, batch.plan
    if timeline.ending is Ending.FAIL:
        batch.input_path.unlink(missing_ok=True)
        return
    files = ResultFiles(store, batch)
    answered = failed = prompt_total = written_total = 0
    for raw in read_lines(batch.input_path, plan.spans, plan.order):
        request = orjson.loads(raw)
        custom_id, body = request["custom_id"], request["body"]
        fault = faults.line_fault(custom_id)
        if not timeline.finished(custom_id, faults):
            code, message = _UNRUN[timeline.ending]
            files.write("error", custom_id, None, {"code": code, "message": message})
            continue
        if fault is LineFault.ERROR:
            files.write("error", custom_id, failed_response(custom_id), None)
            failed += 1
            continue
        try:
            chat = completion(custom_id, body, batch.model_source, fault, int(files.now))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # A body the sandbox cannot read is one the API would refuse, line by line.
            files.write("error", custom_id, malformed_response(exc), None)
            failed += 1
            continue
        response = {"status_code": 200, "request_id": random_hex(32), "body": chat}
        files.write("output", custom_id, response, None)
        answered += 1
        prompt_total += chat["usage"]["prompt_tokens"]
        written_total += chat["usage"]["completion_tokens"]
    batch.output_file_id, batch.error_file_id = files.publish()
    batch.done_counts = (answered, failed)
    batch.tokens = (prompt_total, written_total)
    batch.input_path.unlink(missing_ok=True)


# -- the batch as the API shows it ----------------------------------------------------------------
def batch_json(store: Store, batch: Batch) -> dict[str, Any]:
    now = store.ctx.now()
    job, plan = batch.job, batch.plan
    timeline = job.timeline
    job.settle(now, lambda: write_results(store, batch))
    phase = timeline.phase(now)
    total = 0 if phase in (Phase.VALIDATING, Phase.FAILED) else len(plan.order)
    if job.settled:
        answered, failed = batch.done_counts
    else:
        answered, failed = plan.counts(timeline.ran())
        if phase is not Phase.FINALIZING:
            share = timeline.progress(now) if total else 0.0
            answered, failed = int(answered * share), int(failed * share)
    expires_at = timeline.created_at + BATCH_LIFETIME
    if timeline.ending is Ending.EXPIRE:
        expires_at = timeline.ended_at
    prompt, written = batch.tokens
    view: dict[str, Any] = {
        "id": batch.id,
        "object": "batch",
        "endpoint": ENDPOINT,
        "errors": {"object": "list", "data": plan.errors} if phase is Phase.FAILED else None,
        "input_file_id": batch.input_file_id,
        "completion_window": "24h",
        "status": _STATUS[phase],
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "created_at": int(timeline.created_at),
        "expires_at": int(expires_at),
    }
    for name, moment_phase in _MOMENT_FIELDS:
        moment = timeline.entered(moment_phase, now)
        view[name] = None if moment is None else int(moment)
    view["request_counts"] = {"total": total, "completed": answered, "failed": failed}
    view["metadata"] = batch.metadata
    view["model"] = plan.model
    view["usage"] = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": written,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + written,
    }
    return view


# -- routes ---------------------------------------------------------------------------------------
def build_app(ctx: SandboxContext) -> Starlette:
    """The OpenAI app; its routes close over one ``Store`` of files and batches."""
    store = Store(ctx)

    async def upload_file(request: Request) -> Response:
        match = re.search(r"boundary=\"?([^\";]+)\"?", request.headers.get("content-type", ""))
        if match is None:
            return error(400, "The request must be multipart/form-data.")
        file_id = f"file-{random_token(22)}"
        reader = MultipartReader(match.group(1).encode("latin-1"), store.spool.path(file_id))
        try:
            async for chunk in request.stream():
                reader.feed(chunk)
        finally:
            reader.close()
        problem = _upload_problem(reader)
        if problem is not None:
            store.spool.path(file_id).unlink(missing_ok=True)
            return problem
        now = int(ctx.now())
        asked = reader.fields.get("expires_after[seconds]", "")
        lifetime = int(asked) if asked.isdigit() else FILE_LIFETIME
        stored = StoredFile(
            id=file_id,
            filename=reader.filename or "",
            purpose="batch",
            path=store.spool.path(file_id),
            size=reader.size,
            created_at=now,
            expires_at=now + lifetime,
        )
        store.add_file(stored)
        return JSONResponse(stored.as_json())

    def find_file(request: Request) -> StoredFile | Response:
        file_id = request.path_params["file_id"]
        with ctx.lock:
            stored = store.files.get(file_id)
        if stored is None:
            return error(404, f"No such File object: {file_id}", param="id")
        return stored

    async def get_file(request: Request) -> Response:
        stored = find_file(request)
        return stored if isinstance(stored, Response) else JSONResponse(stored.as_json())

    async def get_file_content(request: Request) -> Response:
        stored = find_file(request)
        if isinstance(stored, Response):
            return stored
        return FileResponse(stored.path, media_type="application/octet-stream")

    async def delete_file(request: Request) -> Response:
        stored = find_file(request)
        if isinstance(stored, Response):
            return stored
        with ctx.lock:
            store.files.pop(stored.id, None)
        stored.path.unlink(missing_ok=True)
        return JSONResponse({"id": stored.id, "object": "file", "deleted": True})

    async def create_batch(request: Request) -> Response:
        try:
            params = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return error(400, "We could not parse the JSON body of your request.")
        stored = _checked_input(params, store)
        if isinstance(stored, Response):
            return stored
        try:
            view = await run_in_threadpool(_start_batch, store, params, stored)
        except FileNotFoundError:  # the input was deleted while the batch was being created
            return error(404, f"No such File object: {stored.id}", param="input_file_id")
        return JSONResponse(view)

    async def get_batch(request: Request) -> Response:
        batch = _find_batch(store, request.path_params["batch_id"])
        if isinstance(batch, Response):
            return batch
        return JSONResponse(await run_in_threadpool(batch_json, store, batch))

    async def list_batches(request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", 20))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return error(400, "Invalid 'limit': must be between 1 and 100.", param="limit")
        with ctx.lock:
            newest_first = list(reversed(store.batches.values()))
        after = request.query_params.get("after")
        if after:
            ids = [batch.id for batch in newest_first]
            newest_first = newest_first[ids.index(after) + 1 :] if after in ids else []
        page = newest_first[:limit]
        data = await run_in_threadpool(lambda: [batch_json(store, batch) for batch in page])
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": len(newest_first) > limit,
            }
        )

    async def cancel_batch(request: Request) -> Response:
        batch = _find_batch(store, request.path_params["batch_id"])
        if isinstance(batch, Response):
            return batch
        view = await run_in_threadpool(batch_json, store, batch)
        if view["status"] in ("completed", "failed", "expired", "cancelled"):
            return error(409, f"Cannot cancel a batch with status '{view['status']}'.")
        batch.job.cancel(ctx.now())
        return JSONResponse(await run_in_threadpool(batch_json, store, batch))

    routes = [
        Route("/v1/files", upload_file, methods=["POST"]),
        Route("/v1/files/{file_id}", get_file, methods=["GET"]),
        Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
        Route("/v1/files/{file_id}/content", get_file_content, methods=["GET"]),
        Route("/v1/batches", create_batch, methods=["POST"]),
        Route("/v1/batches", list_batches, methods=["GET"]),
        Route("/v1/batches/{batch_id}", get_batch, methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
    ]
    front_door = Middleware(
        FrontDoor,
        refuse=partial(refusal, ctx),
        id_header="x-request-id",
        new_id=lambda: f"req_{random_hex(32)}",
    )
    return Starlette(routes=routes, middleware=[front_door])


def _upload_problem(reader: MultipartReader) -> Response | None:
    if not reader.done:
        return error(400, "The multipart body ended before its closing boundary.")
    purpose = reader.fields.get("purpose")
    if purpose is None:
        return error(400, "Missing required parameter: 'purpose'.", param="purpose")
    if purpose != "batch":
        return error(
            400,
            f"The sandbox stores batch input files only, not purpose '{purpose}'.",
            param="purpose",
        )
    if reader.filename is None:
        return error(400, "Missing required parameter: 'file'.", param="file")
    if not reader.filename.endswith(".jsonl"):
        return error(400, "Invalid file format for Batch API. Must be .jsonl", param="file")
    return None


def _checked_input(params: Any, store: Store) -> StoredFile | Response:
    """The input file of a create call, or the error OpenAI answers the call with."""
    if not isinstance(params, dict):
        return error(400, "The request body must be a JSON object.")
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not params.get(name):
            return error(400, f"Missing required parameter: '{name}'.", param=name)
    if params["endpoint"] != ENDPOINT:
        return error(
            400,
            f"Invalid value for 'endpoint': the sandbox emulates '{ENDPOINT}' only.",
            param="endpoint",
            code="invalid_value",
        )
    if params["completion_window"] != "24h":
        return error(
            400,
            "Invalid value for 'completion_window': supported values are: '24h'.",
            param="completion_window",
            code="invalid_value",
        )
    metadata = params.get("metadata")
    if metadata is not None and not _valid_metadata(metadata):
        return error(
            400,
            "Invalid 'metadata': at most 16 string pairs, keys up to 64 characters,"
            " values up to 512.",
            param="metadata",
        )
    with store.ctx.lock:
        stored = store.files.get(params["input_file_id"])
    if stored is None:
        return error(404, f"No such File object: {params['input_file_id']}", param="input_file_id")
    if stored.purpose != "batch":
        return error(
            400,
            "The input file must have been uploaded with purpose 'batch'.",
            param="input_file_id",
        )
    return stored


def _valid_metadata(metadata: Any) -> bool:
    return (
        isinstance(metadata, dict)
        and len(metadata) <= 16
        and all(isinstance(k, str) and len(k) <= 64 for k in metadata)
        and all(isinstance(v, str) and len(v) <= 512 for v in metadata.values())
    )


def _start_batch(store: Store, params: dict[str, Any], stored: StoredFile) -> dict[str, Any]:
    """Create the batch: validate its input now, reveal the verdict when validation 'ends'."""
    ctx = store.ctx
    faults, now = ctx.faults, ctx.now()
    batch_id = _openai_id("batch_", now)
    input_path = store.spool.path(f"{batch_id}.input")
    try:
        os.link(stored.path, input_path)
    except OSError:  # a spool folder on a file system without hard links
        shutil.copyfile(stored.path, input_path)
    plan = validate(input_path, params["endpoint"], faults)
    # The clock starts once the input is read, so even a 50,000-line create answers 'validating'.
    timeline = Timeline.start(ctx.now(), faults)
    if not plan.errors and timeline.ending is Ending.FAIL:
        model = plan.model or "the model"
        plan.errors.append(
            _line_error(
                "token_limit_exceeded",
                f"Enqueued token limit reached for {model} in organization org-sandbox. Limit:"
                " 90,000 enqueued tokens. Please try again once some in_progress batches have been"
                " completed.",
                None,
            )
        )
    if plan.errors:
        timeline.ending = Ending.FAIL
    batch = Batch(
        id=batch_id,
        job=Job(timeline, faults),
        model_source=ctx.model,
        input_file_id=stored.id,
        input_path=input_path,
        metadata=params.get("metadata"),
        plan=plan,
    )
    with ctx.lock:
        store.batches[batch_id] = batch
    return batch_json(store, batch)


def _find_batch(store: Store, batch_id: str) -> Batch | Response:
    with store.ctx.lock:
        batch = store.batches.get(batch_id)
    if batch is None:
        return error(404, f"No batch found with id '{batch_id}'.")
    return batch
