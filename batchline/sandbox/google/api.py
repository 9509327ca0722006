"""The batchPredictionJobs collection: create, list (with filters and pages), get, cancel, delete.

The routes are the ones ``google-genai`` 3.x calls in Vertex mode (read from its ``batches.py``):
``{base}/v1beta1/projects/{p}/locations/{l}/batchPredictionJobs`` (POST create, GET list),
``.../batchPredictionJobs/{id}`` (GET, DELETE) and ``.../batchPredictionJobs/{id}:cancel``
(POST).
"""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from batchline.sandbox.context import SandboxContext
from batchline.sandbox.google.errors import BadRequest, google_error, not_found
from batchline.sandbox.google.filters import matches, parse_filter
from batchline.sandbox.google.jobs import (
    FAIL_VALIDATION_ERROR,
    TERMINAL_STATES,
    JobSpec,
    VertexJob,
    numeric_id,
)
from batchline.sandbox.google.run import run
from batchline.sandbox.google.storage import StorageClients, input_problem
from batchline.sandbox.lifecycle import Ending, Job, Timeline
from batchline.sandbox.registry import Registry
from batchline.sandbox.wire import rfc3339

#: A list call's ``pageSize`` when it gives none, and the most it may ask for.
_DEFAULT_PAGE_SIZE, _MAX_PAGE_SIZE = 100, 1000
_DELETE_METADATA = "type.googleapis.com/google.cloud.aiplatform.v1beta1.DeleteOperationMetadata"


class JobsApi:
    """The batchPredictionJobs collection. Calls that may touch Cloud Storage (creating a job,
    or settling one that has ended) run in the thread pool, never on the event loop."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.jobs: Registry[VertexJob] = Registry(_no_such_job)
        self.next_seq = 0
        self.storage = StorageClients(ctx)

    async def create(self, request: Request) -> Response:
        try:
            spec = JobSpec.parse(orjson.loads(await request.body()))
        except orjson.JSONDecodeError:
            return google_error(400, "Invalid JSON payload received.")
        except BadRequest as problem:
            return google_error(400, str(problem))
        project, location = request.path_params["project"], request.path_params["location"]
        vertex = await run_in_threadpool(self._start, project, location, spec)
        # The job as it was created, however long the storage checks took.
        return JSONResponse(vertex.resource(vertex.timeline.created_at))

    def _start(self, project: str, location: str, spec: JobSpec) -> VertexJob:
        faults = self.ctx.faults
        problem = input_problem(self.storage.get(), spec)
        timeline = Timeline.start(time.time(), faults)
        error = FAIL_VALIDATION_ERROR if timeline.ending is Ending.FAIL else problem
        if error is not None:
            timeline.ending = Ending.FAIL
        with self.jobs.lock:
            while (job_id := numeric_id()) in self.jobs:
                pass
            vertex = VertexJob(
                job_id, project, location, self.next_seq, spec, Job(timeline, faults)
            )
            vertex.error = error
            self.jobs.add(job_id, vertex)
            self.next_seq += 1
        return vertex

    def _settled(self, vertex: VertexJob, now: float) -> dict[str, Any]:
        """The job as of ``now``, its output written first if it has just ended."""
        vertex.job.settle(
            now, lambda: run(vertex, self.storage.get(), self.ctx.gcs_url, self.ctx.model)
        )
        return vertex.resource(now)

    async def list_jobs(self, request: Request) -> Response:
        params = request.query_params
        try:
            page_size = int(params.get("pageSize") or _DEFAULT_PAGE_SIZE)
            before_seq = _decode_page_token(params.get("pageToken"))
            terms = parse_filter(params.get("filter") or "")
        except ValueError as problem:
            return google_error(400, str(problem))
        page_size = max(1, min(page_size, _MAX_PAGE_SIZE))
        place = (request.path_params["project"], request.path_params["location"])
        now = time.time()
        matching = [
            vertex
            for vertex in self.jobs.newest_first()
            if (vertex.project, vertex.location) == place
            and (before_seq is None or vertex.seq < before_seq)
            and matches(vertex, terms, now)
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
            return await not_found(request)
        vertex = self.jobs.get(job_id)
        params = request.path_params
        if vertex is None or (vertex.project, vertex.location) != (
            params["project"],
            params["location"],
        ):
            return _no_such_job(job_id)
        now = time.time()
        if request.method == "POST":
            return await run_in_threadpool(self._cancel, vertex, now)
        if request.method == "DELETE":
            return await run_in_threadpool(self._delete, vertex, now)
        return JSONResponse(await run_in_threadpool(self._settled, vertex, now))

    def _cancel(self, vertex: VertexJob, now: float) -> Response:
        """Start cancelling; Vertex answers an empty body, and refuses for a finished job."""
        if not vertex.job.cancel(now):
            state, _ = vertex.state(now)
            if state in TERMINAL_STATES:
                message = f"Cannot cancel {vertex.name}: the job is in state {state.value}."
                return google_error(400, message, "FAILED_PRECONDITION")
        return JSONResponse({})

    def _delete(self, vertex: VertexJob, now: float) -> Response:
        """Delete a finished job (Vertex refuses running ones); the answer is a done operation."""
        state, _ = vertex.state(now)
        if state not in TERMINAL_STATES:
            message = f"{vertex.name} is in state {state.value}; only finished jobs can be deleted."
            return google_error(400, message, "FAILED_PRECONDITION")
        self._settled(vertex, now)  # its output stays, as on Vertex
        self.jobs.pop(vertex.job_id)
        stamp = rfc3339(now)
        operation = {
            "name": f"projects/{vertex.project}/locations/{vertex.location}"
            f"/operations/{numeric_id()}",
            "metadata": {
                "@type": _DELETE_METADATA,
                "genericMetadata": {"createTime": stamp, "updateTime": stamp},
            },
            "done": True,
            "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
        }
        return JSONResponse(operation)


def _no_such_job(job_id: str) -> Response:
    return google_error(404, f"The BatchPredictionJob {job_id} does not exist.")


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
        raise BadRequest(f"Invalid page token {token!r}.") from None
