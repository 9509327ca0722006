"""Anthropic's Message Batches API: create, read, list, cancel, delete, and fetch results.

A created batch's requests are spooled to disk already in the (shuffled) order their results
will have (``requests``); the results file is written once when a client first sees the batch
ended (``results``), and served from ``results_url``, an absolute address.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from batchline.sandbox.anthropic.errors import Rejected, error
from batchline.sandbox.anthropic.records import MessageBatch, Store
from batchline.sandbox.anthropic.requests import spool_requests
from batchline.sandbox.anthropic.results import RESULT_TYPES, write_results
from batchline.sandbox.faults import BatchOutcome
from batchline.sandbox.ids import random_token
from batchline.sandbox.lifecycle import TERMINAL_PHASES, Job, Phase, Timeline
from batchline.sandbox.wire import page_after, page_before, page_ends, page_limit, rfc3339

#: A batch that has not ended a day after creation expires.
BATCH_LIFETIME = 24 * 3600
#: Anthropic's ``limit`` on a list call.
MAX_PAGE = 1000

_STATUS = {
    Phase.VALIDATING: "in_progress",
    Phase.RUNNING: "in_progress",
    Phase.FINALIZING: "in_progress",
    Phase.CANCELLING: "canceling",
}


class BatchesApi:
    """The ``/v1/messages/batches`` routes over one store. Calls that may read or write a
    batch's files (creating it, or settling one that has ended) run in the thread pool."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, request: Request) -> Response:
        max_body_bytes = self.store.limits().max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body_bytes:
            return _too_large(max_body_bytes)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                return _too_large(max_body_bytes)
        try:
            view = await run_in_threadpool(start_batch, self.store, body, origin(request))
        except Rejected as exc:
            return error(400, "invalid_request_error", str(exc))
        return JSONResponse(view)

    async def get(self, request: Request) -> Response:
        return JSONResponse(await self._view(self._find(request), request))

    async def list(self, request: Request) -> Response:
        params = request.query_params
        limit = page_limit(params, MAX_PAGE)
        if limit is None:
            return error(400, "invalid_request_error", "limit: must be between 1 and 1000")
        newest_first = self.store.batches.newest_first()
        if params.get("before_id"):
            page, has_more = page_before(newest_first, params["before_id"], limit)
        else:
            page, has_more = page_after(newest_first, params.get("after_id"), limit)
        base = origin(request)
        data = await run_in_threadpool(
            lambda: [batch_json(self.store, batch, base) for batch in page]
        )
        return JSONResponse({"data": data, "has_more": has_more, **page_ends(data)})

    async def cancel(self, request: Request) -> Response:
        batch = self._find(request)
        batch.job.cancel(self.store.ctx.now())
        return JSONResponse(await self._view(batch, request))

    async def delete(self, request: Request) -> Response:
        batch = self._find(request)
        view = await self._view(batch, request)
        if view["processing_status"] != "ended":
            return error(
                400,
                "invalid_request_error",
                f"Message Batch {batch.id} is still {view['processing_status']}; only ended"
                " batches can be deleted. Cancel it and wait for it to end.",
            )
        self.store.batches.pop(batch.id)
        batch.results_path.unlink(missing_ok=True)
        return JSONResponse({"id": batch.id, "type": "message_batch_deleted"})

    async def results(self, request: Request) -> Response:
        batch = self._find(request)
        view = await self._view(batch, request)
        if view["results_url"] is None:
            return error(
                404, "not_found_error", f"Message Batch {batch.id} has no results until it ends."
            )
        return FileResponse(batch.results_path, media_type="application/binary")

    def _find(self, request: Request) -> MessageBatch:
        return self.store.batches.find(request.path_params["batch_id"])

    async def _view(self, batch: MessageBatch, request: Request) -> dict[str, Any]:
        return await run_in_threadpool(batch_json, self.store, batch, origin(request))


def origin(request: Request) -> str:
    """The address the client used to reach us: ``results_url`` must be absolute, and a client
    behind a published port or a service name can only follow the address it called."""
    host = request.headers.get("host") or request.url.netloc
    return f"{request.url.scheme}://{host}"


def _too_large(max_body_bytes: int) -> Response:
    return error(
        413,
        "request_too_large",
        f"Request exceeds the maximum size of {max_body_bytes // (1024 * 1024)} MB for a"
        " Message Batch.",
    )


def start_batch(store: Store, body: bytes | bytearray, base: str | None = None) -> dict[str, Any]:
    """Create the batch: check and spool its requests, or refuse it as the API would."""
    ctx = store.ctx
    faults = ctx.faults
    batch_id = f"msgbatch_01{random_token(22)}"
    requests_path = store.spool.path(f"{batch_id}.requests.jsonl")
    try:
        spans, order = spool_requests(body, requests_path, faults.seed, store.limits().max_requests)
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
    store.batches.add(batch_id, batch)
    return batch_json(store, batch, base)


def batch_json(store: Store, batch: MessageBatch, base: str | None = None) -> dict[str, Any]:
    """The batch as of now, its results file written first if it has just ended. ``base`` is
    the sandbox's address as the client sees it (default: where it listens)."""
    now = store.ctx.now()
    timeline = batch.job.timeline
    batch.job.settle(now, lambda: write_results(batch))
    phase = timeline.phase(now)
    ended = phase in TERMINAL_PHASES
    counts = {"processing": 0, **batch.counts} if ended else {"processing": len(batch.order)}
    for kind in RESULT_TYPES:
        counts.setdefault(kind, 0)
    results_url = None
    if ended:
        root = base or store.ctx.base_url
        results_url = f"{root}/anthropic/v1/messages/batches/{batch.id}/results"
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": "ended" if ended else _STATUS[phase],
        "request_counts": counts,
        "ended_at": rfc3339(timeline.ended_at if ended else None),
        "created_at": rfc3339(timeline.created_at),
        "expires_at": rfc3339(timeline.expires_at(BATCH_LIFETIME)),
        "archived_at": None,
        "cancel_initiated_at": rfc3339(timeline.entered(Phase.CANCELLING, now)),
        "results_url": results_url,
    }
