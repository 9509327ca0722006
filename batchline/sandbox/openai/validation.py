"""The checks OpenAI runs on a batch's input file before the batch starts.

A file that fails them fails the batch (``status: failed`` with ``errors.data``), it is not
refused at the create call; so the verdict is made at creation and revealed when validation
"ends" on the batch's timeline.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchline.sandbox.faults import Faults, LineFault
from batchline.sandbox.lifecycle import Ran
from batchline.sandbox.openai.schema_check import schema_error
from batchline.sandbox.spool import json_object, output_order


@dataclass(frozen=True)
class Limits:
    """OpenAI's per-batch limits, as the app's module constants hold them at the create call."""

    max_requests: int
    max_input_bytes: int
    max_reported_errors: int


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


class LineProblem(Exception):
    """Why one line of an input file is not a request OpenAI would run."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


def line_error(
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


def validate(path: Path, endpoint: str, faults: Faults, limits: Limits) -> Plan:
    """Check an input file the way OpenAI does before a batch starts; collect its problems.

    Requests are read one line at a time and not kept: the plan holds where each line is, the
    output order, and how many requests will fail, which the running counts need.
    """
    plan = Plan()
    if path.stat().st_size > limits.max_input_bytes:
        limit = limits.max_input_bytes // (1024 * 1024)
        message = f"The input file is larger than the {limit} MB a batch accepts."
        plan.errors.append(line_error("file_too_large", message, None, "input_file_id"))
        return plan
    custom_ids: list[str] = []
    seen: set[str] = set()
    counts = [0, 0, 0, 0]  # answered/failed if all run, then if some run
    for number, start, end, raw in _request_lines(path):
        try:
            custom_id = checked_custom_id(raw, endpoint, seen, plan)
        except LineProblem as problem:
            plan.errors.append(line_error(problem.code, problem.message, number, problem.param))
            if len(plan.errors) >= limits.max_reported_errors:
                return plan
            continue
        custom_ids.append(custom_id)
        plan.spans.extend((start, end))
        failed = faults.line_fault(custom_id) is LineFault.ERROR or refused_schema(raw)
        counts[failed] += 1
        if faults.finishes_before_end(custom_id):
            counts[2 + failed] += 1
    if not plan.errors and not custom_ids:
        plan.errors.append(line_error("empty_file", "The batch input file is empty.", None))
    if len(custom_ids) > limits.max_requests:
        message = (
            f"The batch input file has {len(custom_ids):,} requests; a batch takes at most"
            f" {limits.max_requests:,}."
        )
        plan.errors.append(line_error("too_many_tasks", message, None))
    plan.order = array("L", output_order(custom_ids, faults.seed))
    plan.all_counts, plan.some_counts = (counts[0], counts[1]), (counts[2], counts[3])
    return plan


def refused_schema(raw: bytes) -> bool:
    """Whether the line's strict schema is one OpenAI refuses (the request will fail)."""
    request = json_object(raw)
    return request is not None and schema_error(request.get("body")) is not None


def checked_custom_id(raw: bytes, endpoint: str, seen: set[str], plan: Plan) -> str:
    """The line's custom_id, once the line passes OpenAI's checks; else ``LineProblem``.

    The codes are the real API's: ``invalid_url``, ``mismatched_model`` and
    ``missing_required_parameter`` (issue 15's audit against real batches' ``errors.data``).
    """
    request = json_object(raw)
    if request is None:
        raise LineProblem("invalid_json_line", "This line is not parseable as valid JSON.")
    custom_id = request.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise LineProblem(
            "missing_required_parameter", "Missing required parameter: 'custom_id'.", "custom_id"
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
            "invalid_url",
            f"The URL '{request.get('url')}' does not match the batch endpoint '{endpoint}'.",
            "url",
        )
    body = request.get("body")
    model = body.get("model") if isinstance(body, dict) else None
    if not isinstance(model, str) or not model:
        message = "Missing required parameter: 'body.model'."
        raise LineProblem("missing_required_parameter", message, "body.model")
    if plan.model is None:
        plan.model = model
    elif model != plan.model:
        raise LineProblem(
            "mismatched_model",
            f"The model '{model}' differs from the model '{plan.model}' of earlier requests; a"
            " batch takes one model.",
            "body.model",
        )
    return custom_id
