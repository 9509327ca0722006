"""A message batch's results file, written once, line by line, when the batch has ended.

Each request ends one of four ways (``succeeded``, ``errored``, ``canceled``, ``expired``),
decided by what happened to the batch and which fault the request drew.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from batchline.batching.schema_rules.anthropic import check_params
from batchline.sandbox.anthropic.answers import message
from batchline.sandbox.anthropic.records import MessageBatch
from batchline.sandbox.fake_model import UNREADABLE_REQUEST
from batchline.sandbox.faults import LineFault, pick_by_id
from batchline.sandbox.lifecycle import Ending
from batchline.sandbox.spool import read_lines

#: The four ways a request ends, as the results and ``request_counts`` name them.
RESULT_TYPES = ("succeeded", "errored", "canceled", "expired")
#: Bodies for ``LineFault.ERROR``: a request the API refused, or a server error.
_LINE_ERRORS = (
    ("invalid_request_error", "prompt is too long: 215304 tokens > 200000 maximum"),
    ("api_error", "Internal server error"),
)


def _param_problem(params: dict[str, Any]) -> str | None:
    """What the API reports, as an ``errored`` result, about a request it cannot run."""
    for name in ("model", "max_tokens"):
        if name not in params:
            return f"{name}: Field required"
    if not params.get("messages"):
        return "messages: at least one message is required"
    parts = {key: params[key] for key in ("tools", "output_config") if key in params}
    return _schema_problem(orjson.dumps(parts)) if parts else None


@lru_cache(maxsize=256)
def _schema_problem(parts_json: bytes) -> str | None:
    """The API's words for a tool or output schema it refuses (batchline's rule book), judged
    once per distinct schema, since a batch's requests usually share one."""
    violation = check_params(orjson.loads(parts_json))
    return None if violation is None else violation.message


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
        return _errored(*pick_by_id(custom_id, _LINE_ERRORS))
    try:
        answered = message(custom_id, params, batch.model_source, fault)
    except UNREADABLE_REQUEST as exc:
        # Params the sandbox cannot read are params the API would refuse, request by request.
        return _errored("invalid_request_error", f"Invalid request params: {exc!r}")
    return {"type": "succeeded", "message": answered}


def write_results(batch: MessageBatch) -> None:
    """Answer every request of an ended batch into its results file, one line at a time."""
    counts = dict.fromkeys(RESULT_TYPES, 0)
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
