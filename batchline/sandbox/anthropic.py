"""Anthropic's Message Batches API, as the official SDK sees it.

Mounted at ``/anthropic``, so ``Anthropic(base_url=sb.anthropic_base_url)`` reaches
``/anthropic/v1/messages/batches``. A created batch's requests are spooled to disk already in
the (shuffled) order their results will have; the results file is written once, line by line,
when a client first sees the batch ended, and served from ``results_url``, an absolute address.
"""

from __future__ import annotations

import json
import re
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from batchline.sandbox.core import (
    BatchOutcome,
    FakeModel,
    FrontDoor,
    LineFault,
    SandboxContext,
    Spool,
    answer_text,
    break_json,
    output_order,
    partial_value,
    random_token,
    read_lines,
    violate_schema,
    written_answer,
)
from batchline.sandbox.lifecycle import TERMINAL_PHASES, Ending, Job, Phase, Timeline

#: Anthropic's per-batch limits (module constants so a test can lower them).
MAX_REQUESTS = 100_000
MAX_BODY_BYTES = 256 * 1024 * 1024
BATCH_LIFETIME = 24 * 3600
#: The custom_id rule the API enforces at creation.
CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

_STATUS = {
    Phase.VALIDATING: "in_progress",
    Phase.RUNNING: "in_progress",
    Phase.FINALIZING: "in_progress",
    Phase.CANCELLING: "canceling",
}
#: Bodies for ``LineFault.ERROR``: a request the API refused, or a server error.
_LINE_ERRORS = (
    ("invalid_request_error", "prompt is too long: 215304 tokens > 200000 maximum"),
    ("api_error", "Internal server error"),
)


def error(status: int, kind: str, message: str) -> JSONResponse:
    """Anthropic's error envelope, which the SDK turns into ``anthropic.APIStatusError``s."""
    body = {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": _request_id(),
    }
    return JSONResponse(body, status_code=status)


def _request_id() -> str:
    return f"req_011C{random_token(20)}"


def _timestamp(moment: float | None) -> str | None:
    """RFC 3339 with microseconds and ``Z``, as the API writes its ``*_at`` fields."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- records --------------------------------------------------------------------------------------
@dataclass
class MessageBatch:
    id: str
    job: Job
    model_source: FakeModel
    spans: array[int]  # start, end of each request's line in the spool file
    order: array[int]  # result order, as line numbers
    requests_path: Path  # one {"custom_id", "params"} line per request
    results_path: Path
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Store:
    ctx: SandboxContext
    spool: Spool = field(default_factory=lambda: Spool("anthropic"))
    batches: dict[str, MessageBatch] = field(default_factory=dict)


# -- the front door: key check and injected HTTP faults -------------------------------------------
def refusal(ctx: SandboxContext, headers: Headers) -> Response | None:
    """Anthropic's answer to a call without a key, or to an injected HTTP fault."""
    # The API documents ``x-api-key``; SDK 2.x sends the same key as ``Authorization: Bearer``.
    scheme, _, token = headers.get("authorization", "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else ""
    if not headers.get("x-api-key", "").strip() and not bearer:
        return error(401, "authentication_error", "x-api-key header is required")
    status = ctx.faults.http_fault()
    if status == 429:
        message = "This request would exceed the rate limit for your organization. Try again later."
        return error(429, "rate_limit_error", message)
    if status == 503:
        # Anthropic reports overload as 529; the fault settings speak of 503, which is kept.
        return error(503, "overloaded_error", "Overloaded")
    if status is not None:
        return error(status, "api_error", "Internal server error")
    return None


# -- creation -------------------------------------------------------------------------------------
class Rejected(Exception):
    """A create request the API refuses with 400 ``invalid_request_error``."""


_BLANK = re.compile(r"[ \t\n\r]*")


def _skip(text: str, index: int) -> int:
    match = _BLANK.match(text, index)
    return match.end() if match else index


def iter_requests(text: str) -> Iterator[Any]:
    """The elements of the body's ``requests`` array, parsed one at a time.

    Parsing a whole body at once costs about ten times its size in Python objects (gigabytes
    for a 256 MB batch); walking the array keeps one request in memory at a time.
    """
    decoder = json.JSONDecoder()
    seen_key = False
    try:
        index = _skip(text, 0)
        if text[index] != "{":
            raise ValueError("not an object")
        index = _skip(text, index + 1)
        while text[index] != "}":
            key, index = decoder.raw_decode(text, index)
            index = _skip(text, index)
            if text[index] != ":":
                raise ValueError("no colon")
            index = _skip(text, index + 1)
            if key == "requests" and text[index] == "[":
                seen_key = True
                index = _skip(text, index + 1)
                while text[index] != "]":
                    request, index = decoder.raw_decode(text, index)
                    yield request
                    index = _skip(text, index)
                    if text[index] == ",":
                        index = _skip(text, index + 1)
                index += 1
            else:
                seen_key = seen_key or key == "requests"
                _, index = decoder.raw_decode(text, index)
            index = _skip(text, index)
            if text[index] == ",":
                index = _skip(text, index + 1)
    except (ValueError, IndexError) as exc:
        raise Rejected("The request body is not valid JSON.") from exc
    if not seen_key:
        raise Rejected("requests: Field required")


def _checked_id(index: int, request: Any, seen: set[str]) -> str:
    """The request's custom_id, if it and the request pass the checks made at creation."""
    if index >= MAX_REQUESTS:
        raise Rejected(f"requests: List should have at most {MAX_REQUESTS} items after validation")
    if not isinstance(request, dict) or not isinstance(request.get("params"), dict):
        raise Rejected(f"requests.{index}.params: Field required")
    custom_id = request.get("custom_id")
    if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
        raise Rejected(
            f"requests.{index}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        )
    if custom_id in seen:
        raise Rejected(
            f"requests.{index}.custom_id: Duplicate custom_id '{custom_id}'; each request in"
            " a Message Batch needs a unique custom_id."
        )
    seen.add(custom_id)
    return custom_id


def spool_requests(body: bytes | bytearray, path: Path, seed: int) -> tuple[array[int], array[int]]:
    """Check the requests and write them to ``path``, one line each.

    Returns where each line sits (start, end pairs) and the order results will come back in,
    as line numbers: all a batch keeps in memory.
    """
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise Rejected("The request body is not valid UTF-8.") from exc
    spans: array[int] = array("Q")
    custom_ids: list[str] = []
    seen: set[str] = set()
    offset = 0
    with path.open("wb", buffering=1 << 20) as spool:
        for index, request in enumerate(iter_requests(text)):
            custom_id = _checked_id(index, request, seen)
            try:
                line = orjson.dumps({"custom_id": custom_id, "params": request["params"]})
            except orjson.JSONEncodeError as exc:  # e.g. an integer wider than 64 bits
                raise Rejected(f"requests.{index}.params: {exc}") from exc
            spool.write(line + b"\n")
            spans.extend((offset, offset + len(line)))
            offset += len(line) + 1
            custom_ids.append(custom_id)
    if not custom_ids:
        raise Rejected("requests: List should have at least 1 item after validation, not 0")
    return spans, array("L", output_order(custom_ids, seed))


def start_batch(store: Store, body: bytes | bytearray) -> dict[str, Any]:
    """Create the batch: check and spool its requests, or refuse it as the API would."""
    ctx = store.ctx
    faults = ctx.faults
    batch_id = f"msgbatch_01{random_token(22)}"
    requests_path = store.spool.path(f"{batch_id}.requests.jsonl")
    try:
        spans, order = spool_requests(body, requests_path, faults.seed)
        if faults.batch_outcome is BatchOutcome.FAIL_VALIDATION:
            raise Rejected(
                "requests: the Message Batch failed validation (sandbox outcome 'fail_validation')."
            )
    except Rejected:
        requests_path.unlink(missing_ok=True)
        raise
    batch = MessageBatch(
        id=batch_id,
        # The clock starts once the requests are spooled, so create answers 'in_progress'.
        job=Job(Timeline.start(ctx.now(), faults), faults),
        model_source=ctx.model,
        spans=spans,
        order=order,
        requests_path=requests_path,
        results_path=store.spool.path(f"{batch_id}.results.jsonl"),
    )
    with ctx.lock:
        store.batches[batch_id] = batch
    return batch_json(store, batch)


# -- answers --------------------------------------------------------------------------------------
@dataclass
class Ask:
    """What a request asks for: a forced tool's input schema, or JSON text for a schema."""

    schema: dict[str, Any] | None = None
    tool: str | None = None


def read_ask(params: dict[str, Any]) -> Ask:
    """What the params ask for: a forced tool first (the default way), then ``output_config``."""
    tools = [t for t in params.get("tools") or [] if isinstance(t, dict) and "input_schema" in t]
    choice = params.get("tool_choice")
    wanted = None
    if isinstance(choice, dict) and choice.get("type") == "tool":
        wanted = choice.get("name")
    elif isinstance(choice, dict) and choice.get("type") == "any" and len(tools) == 1:
        wanted = tools[0].get("name")
    for tool in tools:
        if wanted is not None and tool.get("name") == wanted:
            return Ask(schema=tool["input_schema"] or {}, tool=wanted)
    output_format = (params.get("output_config") or {}).get("format")
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        return Ask(schema=output_format.get("schema") or {})
    return Ask()


def _param_problem(params: dict[str, Any]) -> str | None:
    """What the API reports, as an ``errored`` result, about a request it cannot run."""
    for name in ("model", "max_tokens"):
        if name not in params:
            return f"{name}: Field required"
    if not params.get("messages"):
        return "messages: at least one message is required"
    return None


def _input_tokens(params: dict[str, Any], schema: dict[str, Any] | None) -> int:
    """Plausible prompt size: system and message text, a few tokens a message, the schema."""
    texts: list[str] = []
    contents = [m.get("content") for m in params["messages"] if isinstance(m, dict)]
    for part in [params.get("system"), *contents]:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, list):
            texts.extend(b["text"] for b in part if isinstance(b, dict) and "text" in b)
    if schema:
        texts.append(orjson.dumps(schema).decode())
    return FakeModel.count_tokens("".join(texts)) + 4 * len(params["messages"]) + 4


def _content(ask: Ask, answer: Any, fault: LineFault | None) -> tuple[list[dict[str, Any]], str]:
    """The content blocks and stop_reason for one answer, spoiled as the fault asks."""
    if fault is LineFault.REFUSAL:
        return [], "refusal"
    if ask.tool is not None:
        tool_input = answer if isinstance(answer, dict) else _as_object(answer)
        if fault is LineFault.INVALID_JSON:
            # A tool's input is always an object, so "not JSON" shows up as the model writing
            # its JSON as text instead of calling the tool.
            return [{"type": "text", "text": break_json(answer_text(answer))}], "end_turn"
        if tool_input is None:  # a scripted answer that is no object: the model wrote text
            return [{"type": "text", "text": answer_text(answer)}], "end_turn"
        if fault is LineFault.SCHEMA_VIOLATION:
            broken = violate_schema(tool_input, ask.schema)
            tool_input = broken if isinstance(broken, dict) else {"value": broken}
        stop_reason = "tool_use"
        if fault is LineFault.TRUNCATED:
            tool_input, stop_reason = partial_value(tool_input), "max_tokens"
        block = {"type": "tool_use", "id": f"toolu_01{random_token(22)}", "name": ask.tool}
        return [{**block, "input": tool_input}], stop_reason
    text = written_answer(answer, ask.schema, fault)
    stop_reason = "max_tokens" if fault is LineFault.TRUNCATED else "end_turn"
    return [{"type": "text", "text": text}], stop_reason


def _as_object(answer: Any) -> dict[str, Any] | None:
    """A scripted string answer for a tool call, read as the object it spells, if it does."""
    try:
        value = orjson.loads(answer) if isinstance(answer, str) else None
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def message(
    custom_id: str, params: dict[str, Any], model: FakeModel, fault: LineFault | None
) -> dict[str, Any]:
    """A ``message`` shaped like the succeeded results of the live batch API."""
    ask = read_ask(params)
    answer = None if fault is LineFault.REFUSAL else model.answer(custom_id, ask.schema, params)
    content, stop_reason = _content(ask, answer, fault)
    written = "".join(
        b["text"] if b["type"] == "text" else answer_text(b["input"]) for b in content
    )
    output_tokens = FakeModel.count_tokens(written)
    if stop_reason == "max_tokens" and isinstance(params.get("max_tokens"), int):
        output_tokens = params["max_tokens"]
    stop_details = None
    if stop_reason == "refusal":
        stop_details = {"type": "refusal", "category": None, "explanation": None}
    return {
        "model": params.get("model"),
        "id": f"msg_01{random_token(22)}",
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "stop_details": stop_details,
        "usage": {
            "input_tokens": _input_tokens(params, ask.schema),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens,
            "service_tier": "batch",
            "inference_geo": "not_available",
        },
    }


def _errored(kind: str, message_text: str) -> dict[str, Any]:
    inner: dict[str, Any] = {"type": kind, "message": message_text}
    if kind == "invalid_request_error":
        inner = {"details": {"error_visibility": "user_facing"}, **inner}
    return {"type": "errored", "error": {"type": "error", "error": inner, "request_id": None}}


def result(batch: MessageBatch, custom_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """One request's result, by what happened to the batch and which fault the request drew."""
    timeline, faults = batch.job.timeline, batch.job.faults
    if not timeline.finished(custom_id, faults):
        return {"type": "expired" if timeline.ending is Ending.EXPIRE else "canceled"}
    problem = _param_problem(params)
    if problem is not None:
        return _errored("invalid_request_error", problem)
    fault = faults.line_fault(custom_id)
    if fault is LineFault.ERROR:
        return _errored(*_LINE_ERRORS[zlib.crc32(custom_id.encode()) % 2])
    try:
        answered = message(custom_id, params, batch.model_source, fault)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # Params the sandbox cannot read are params the API would refuse, request by request.
        return _errored("invalid_request_error", f"Invalid request params: {exc!r}")
    return {"type": "succeeded", "message": answered}


def write_results(batch: MessageBatch) -> None:
    """Answer every request of an ended batch into its results file, one line at a time."""
    counts = dict.fromkeys(("succeeded", "errored", "canceled", "expired"), 0)
    requests = read_lines(batch.requests_path, batch.spans, batch.order)
    with batch.results_path.open("wb", buffering=1 << 20) as results:
        for raw in requests:
            request = orjson.loads(raw)
            outcome = result(batch, request["custom_id"], request["params"])
            counts[outcome["type"]] += 1
            results.write(orjson.dumps({"custom_id": request["custom_id"], "result": outcome}))
            results.write(b"\n")
    batch.counts = counts
    batch.requests_path.unlink(missing_ok=True)


# -- the batch as the API shows it ----------------------------------------------------------------
def batch_json(store: Store, batch: MessageBatch) -> dict[str, Any]:
    now = store.ctx.now()
    timeline = batch.job.timeline
    batch.job.settle(now, lambda: write_results(batch))
    phase = timeline.phase(now)
    ended = phase in TERMINAL_PHASES
    counts = {"processing": 0, **batch.counts} if ended else {"processing": len(batch.order)}
    for kind in ("succeeded", "errored", "canceled", "expired"):
        counts.setdefault(kind, 0)
    expires_at = timeline.created_at + BATCH_LIFETIME
    if timeline.ending is Ending.EXPIRE:
        expires_at = timeline.ended_at
    results_url = None
    if ended:
        results_url = f"{store.ctx.base_url}/anthropic/v1/messages/batches/{batch.id}/results"
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": "ended" if ended else _STATUS[phase],
        "request_counts": counts,
        "ended_at": _timestamp(timeline.ended_at if ended else None),
        "created_at": _timestamp(timeline.created_at),
        "expires_at": _timestamp(expires_at),
        "archived_at": None,
        "cancel_initiated_at": _timestamp(timeline.entered(Phase.CANCELLING, now)),
        "results_url": results_url,
    }


def _list_page(
    batches: list[MessageBatch], params: Any, limit: int
) -> tuple[list[MessageBatch], bool]:
    """One page of newest-first batches around an ``after_id`` or ``before_id`` cursor."""
    ids = [batch.id for batch in batches]
    if params.get("before_id"):
        end = ids.index(params["before_id"]) if params["before_id"] in ids else 0
        start = max(0, end - limit)
        return batches[start:end], start > 0
    start = 0
    if params.get("after_id"):
        start = ids.index(params["after_id"]) + 1 if params["after_id"] in ids else len(ids)
    return batches[start : start + limit], start + limit < len(batches)


# -- routes ---------------------------------------------------------------------------------------
def build_app(ctx: SandboxContext) -> Starlette:
    """The Anthropic app; its routes close over one ``Store`` of message batches."""
    store = Store(ctx)

    async def create_batch(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _too_large()
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _too_large()
        try:
            view = await run_in_threadpool(start_batch, store, body)
        except Rejected as exc:
            return error(400, "invalid_request_error", str(exc))
        return JSONResponse(view)

    def find(request: Request) -> MessageBatch | Response:
        batch_id = request.path_params["batch_id"]
        with ctx.lock:
            batch = store.batches.get(batch_id)
        if batch is None:
            return error(404, "not_found_error", f"Message Batch {batch_id} not found.")
        return batch

    async def get_batch(request: Request) -> Response:
        batch = find(request)
        if isinstance(batch, Response):
            return batch
        return JSONResponse(await run_in_threadpool(batch_json, store, batch))

    async def list_batches(request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", 20))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            return error(400, "invalid_request_error", "limit: must be between 1 and 1000")
        with ctx.lock:
            newest_first = list(reversed(store.batches.values()))
        page, has_more = _list_page(newest_first, request.query_params, limit)
        data = await run_in_threadpool(lambda: [batch_json(store, batch) for batch in page])
        return JSONResponse(
            {
                "data": data,
                "has_more": has_more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def cancel_batch(request: Request) -> Response:
        batch = find(request)
        if isinstance(batch, Response):
            return batch
        batch.job.cancel(ctx.now())
        return JSONResponse(await run_in_threadpool(batch_json, store, batch))

    async def delete_batch(request: Request) -> Response:
        batch = find(request)
        if isinstance(batch, Response):
            return batch
        view = await run_in_threadpool(batch_json, store, batch)
        if view["processing_status"] != "ended":
            return error(
                400,
                "invalid_request_error",
                f"Message Batch {batch.id} is still {view['processing_status']}; only ended"
                " batches can be deleted. Cancel it and wait for it to end.",
            )
        with ctx.lock:
            store.batches.pop(batch.id, None)
        batch.results_path.unlink(missing_ok=True)
        return JSONResponse({"id": batch.id, "type": "message_batch_deleted"})

    async def get_results(request: Request) -> Response:
        batch = find(request)
        if isinstance(batch, Response):
            return batch
        view = await run_in_threadpool(batch_json, store, batch)
        if view["results_url"] is None:
            return error(
                404, "not_found_error", f"Message Batch {batch.id} has no results until it ends."
            )
        return FileResponse(batch.results_path, media_type="application/binary")

    routes = [
        Route("/v1/messages/batches", create_batch, methods=["POST"]),
        Route("/v1/messages/batches", list_batches, methods=["GET"]),
        Route("/v1/messages/batches/{batch_id}", get_batch, methods=["GET"]),
        Route("/v1/messages/batches/{batch_id}", delete_batch, methods=["DELETE"]),
        Route("/v1/messages/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
        Route("/v1/messages/batches/{batch_id}/results", get_results, methods=["GET"]),
    ]
    front_door = Middleware(
        FrontDoor, refuse=partial(refusal, ctx), id_header="request-id", new_id=_request_id
    )
    return Starlette(routes=routes, middleware=[front_door])


def _too_large() -> Response:
    return error(
        413,
        "request_too_large",
        f"Request exceeds the maximum size of {MAX_BODY_BYTES // (1024 * 1024)} MB for a"
        " Message Batch.",
    )
