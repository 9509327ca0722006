"""Running a job: every request that ran answered once, when a client first sees the job ended."""

from __future__ import annotations

import tempfile
from typing import Any

from google.cloud import storage  # type: ignore[import-untyped]

from batchline.sandbox.fake_model import FakeModel
from batchline.sandbox.google.errors import RPC_INTERNAL
from batchline.sandbox.google.jobs import Counts, VertexJob
from batchline.sandbox.google.predictions import Answerer
from batchline.sandbox.google.schema_check import import_problem
from batchline.sandbox.google.storage import PredictionsFile, request_lines
from batchline.sandbox.lifecycle import Ending
from batchline.sandbox.spool import json_object

#: The error of a job that failed partway (the ``fail_partway`` fault).
PARTWAY_MESSAGE = "Internal error while running the job (sandbox fault: fail_partway)."


def run(vertex: VertexJob, client: storage.Client, gcs_url: str, model: FakeModel) -> None:
    """Answer the requests that ran before the job ended and publish ``predictions.jsonl``."""
    timeline, faults = vertex.timeline, vertex.job.faults
    if timeline.ending is Ending.FAIL:
        return
    answerer = Answerer(vertex.job_id, vertex.spec.model, faults, model, timeline)
    counts = Counts()
    try:
        with tempfile.TemporaryFile(prefix="batchline-vertex-") as spool:
            output = PredictionsFile(spool, gcs_url, vertex.spec.output_prefix, timeline.created_at)
            for index, raw in enumerate(request_lines(client, vertex.spec.input_uris)):
                line = json_object(raw)
                problem = import_problem(line)
                if problem is not None:  # the import refuses the whole job, not the line
                    vertex.broke, vertex.error = True, problem
                    return
                custom_id = _custom_id(line, index)
                if not _ran(vertex, custom_id):
                    counts.incomplete += 1
                    continue
                prediction, succeeded = answerer.predict(line, custom_id)
                counts.successful += succeeded
                counts.failed += not succeeded
                output.add(prediction, faults.seed)
            vertex.output_dir = output.publish(faults.seed)
        if faults.fail_partway:
            # The job still fails, but keeps the rows it wrote, as Vertex does.
            vertex.broke = True
            vertex.error = {"code": RPC_INTERNAL, "message": PARTWAY_MESSAGE}
    except Exception as exc:  # e.g. the input deleted mid-job: fail the job, not every poll
        vertex.broke = True
        message = f"Internal error while running the job: {exc!r}"
        vertex.error = {"code": RPC_INTERNAL, "message": message}
        return
    vertex.counts = counts


def _ran(vertex: VertexJob, custom_id: str) -> bool:
    """Whether the request ran before the job ended (or, failing partway, before it broke)."""
    faults = vertex.job.faults
    if faults.fail_partway:
        return faults.finishes_before_end(custom_id)
    return vertex.timeline.finished(custom_id, faults)


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
