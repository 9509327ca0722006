"""OpenAI's Batch API: create a batch from an uploaded file, read it, list them, cancel one.

A batch validates its input at creation (``validation``) and writes its output files when a
client first sees it ended (``results``); in between, its status and request counts are read
off its timeline.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from batchline.sandbox.lifecycle import Ending, Job, Phase, Timeline
from batchline.sandbox.openai.errors import error
from batchline.sandbox.openai.records import Batch, Store, StoredFile, openai_id
from batchline.sandbox.openai.results import write_results
from batchline.sandbox.openai.validation import line_error, validate
from batchline.sandbox.wire import Refused, page_after, page_ends, page_limit

#: The endpoint batchline uses, and the default of the sandbox's batches.
ENDPOINT = "/v1/chat/completions"
#: The endpoints the sandbox answers for. The SDK lists ``/v1/responses`` first among batch
#: endpoints and it is pydantic-ai's only OpenAI batch path; others (embeddings, moderations)
#: are refused.
ENDPOINTS = ("/v1/responses", ENDPOINT)
#: A batch that has not ended a day after creation expires (``completion_window: "24h"``).
BATCH_LIFETIME = 24 * 3600
#: OpenAI's ``limit`` on a list call.
MAX_PAGE = 100

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


class BatchesApi:
    """The ``/v1/batches`` routes over one store. Calls that may read or write a batch's files
    (creating it, or settling one that has ended) run in the thread pool."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, request: Request) -> Response:
        try:
            params = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return error(400, "We could not parse the JSON body of your request.")
        stored = checked_input(params, self.store)
        try:
            view = await run_in_threadpool(start_batch, self.store, params, stored)
        except FileNotFoundError:  # the input was deleted while the batch was being created
            return error(404, f"No such File object: {stored.id}", param="input_file_id")
        return JSONResponse(view)

    async def get(self, request: Request) -> Response:
        batch = self.store.batches.find(request.path_params["batch_id"])
        return JSONResponse(await run_in_threadpool(batch_json, self.store, batch))

    async def list(self, request: Request) -> Response:
        limit = page_limit(request.query_params, MAX_PAGE)
        if limit is None:
            return error(400, "Invalid 'limit': must be between 1 and 100.", param="limit")
        newest_first = self.store.batches.newest_first()
        page, has_more = page_after(newest_first, request.query_params.get("after"), limit)
        data = await run_in_threadpool(lambda: [batch_json(self.store, batch) for batch in page])
        return JSONResponse(
            {"object": "list", "data": data, **page_ends(data), "has_more": has_more}
        )

    async def cancel(self, request: Request) -> Response:
        batch = self.store.batches.find(request.path_params["batch_id"])
        view = await run_in_threadpool(batch_json, self.store, batch)
        if view["status"] in ("completed", "failed", "expired", "cancelled"):
            return error(409, f"Cannot cancel a batch with status '{view['status']}'.")
        batch.job.cancel(self.store.ctx.now())
        return JSONResponse(await run_in_threadpool(batch_json, self.store, batch))


# -- creation ------------------------------------------------------------------------------------


def checked_input(params: Any, store: Store) -> StoredFile:
    """The input file of a create call; ``Refused`` with OpenAI's answer if the call is wrong."""
    if not isinstance(params, dict):
        raise Refused(error(400, "The request body must be a JSON object."))
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not params.get(name):
            raise Refused(error(400, f"Missing required parameter: '{name}'.", param=name))
    if params["endpoint"] not in ENDPOINTS:
        emulated = "' and '".join(ENDPOINTS)
        message = f"Invalid value for 'endpoint': the sandbox emulates '{emulated}' only."
        raise Refused(error(400, message, param="endpoint", code="invalid_value"))
    if params["completion_window"] != "24h":
        message = "Invalid value for 'completion_window': supported values are: '24h'."
        raise Refused(error(400, message, param="completion_window", code="invalid_value"))
    metadata = params.get("metadata")
    if metadata is not None and not _valid_metadata(metadata):
        message = (
            "Invalid 'metadata': at most 16 string pairs, keys up to 64 characters,"
            " values up to 512."
        )
        raise Refused(error(400, message, param="metadata"))
    file_id = params["input_file_id"]
    stored = store.files.get(file_id)
    if stored is None:
        raise Refused(error(404, f"No such File object: {file_id}", param="input_file_id"))
    if stored.purpose != "batch":
        message = "The input file must have been uploaded with purpose 'batch'."
        raise Refused(error(400, message, param="input_file_id"))
    return stored


def _valid_metadata(metadata: Any) -> bool:
    return (
        isinstance(metadata, dict)
        and len(metadata) <= 16
        and all(isinstance(k, str) and len(k) <= 64 for k in metadata)
        and all(isinstance(v, str) and len(v) <= 512 for v in metadata.values())
    )


def start_batch(store: Store, params: dict[str, Any], stored: StoredFile) -> dict[str, Any]:
    """Create the batch: validate its input now, reveal the verdict when validation 'ends'."""
    ctx = store.ctx
    faults, now = ctx.faults, ctx.now()
    batch_id = openai_id("batch_", now)
    input_path = store.spool.path(f"{batch_id}.input")
    try:
        os.link(stored.path, input_path)
    except OSError:  # a spool folder on a file system without hard links
        shutil.copyfile(stored.path, input_path)
    plan = validate(input_path, params["endpoint"], faults, store.limits())
    # The clock starts once the input is read, so even a 50,000-line create answers 'validating'.
    timeline = Timeline.start(ctx.now(), faults)
    # The capacity fault: the enqueued-token quota is full while refusals are left (then
    # batches created later run, as when earlier batches finish and free the quota).
    if not plan.errors and faults.take_capacity_refusal():
        model = plan.model or "the model"
        plan.errors.append(
            line_error(
                "token_limit_exceeded",
                f"Enqueued token limit reached for {model} in organization org-sandbox. Limit:"
                " 90,000 enqueued tokens. Please try again once some in_progress batches have been"
                " completed.",
                None,
            )
        )
    # The fail outcome: a batch that fails validation for good (a model the account cannot
    # use), which no resubmission can fix.
    if not plan.errors and timeline.ending is Ending.FAIL:
        model = plan.model or "the model"
        plan.errors.append(
            line_error(
                "model_not_found",
                f"The model `{model}` does not exist or you do not have access to it.",
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
        endpoint=params["endpoint"],
    )
    store.batches.add(batch_id, batch)
    return batch_json(store, batch)


# -- the batch as the API shows it ---------------------------------------------------------------


def batch_json(store: Store, batch: Batch) -> dict[str, Any]:
    """The batch as of now, its result files written first if it has just ended."""
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
    prompt, written = batch.tokens
    view: dict[str, Any] = {
        "id": batch.id,
        "object": "batch",
        "endpoint": batch.endpoint,
        "errors": {"object": "list", "data": plan.errors} if phase is Phase.FAILED else None,
        "input_file_id": batch.input_file_id,
        "completion_window": "24h",
        "status": _STATUS[phase],
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "created_at": int(timeline.created_at),
        "expires_at": int(timeline.expires_at(BATCH_LIFETIME)),
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
