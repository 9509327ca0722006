"""A batch's output and error files, written once, line by line, when the batch has ended.

Requests are answered in the shuffled output order straight from the input's lines, so a
50,000-line batch never holds more than one request in memory.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

import orjson

from batchline.sandbox.fake_model import UNREADABLE_REQUEST
from batchline.sandbox.faults import LineFault
from batchline.sandbox.ids import random_token
from batchline.sandbox.lifecycle import Ending
from batchline.sandbox.openai import responses
from batchline.sandbox.openai.answers import (
    completion,
    failed_response,
    line_response,
    malformed_response,
)
from batchline.sandbox.openai.records import FILE_LIFETIME, Batch, Store, StoredFile, openai_id
from batchline.sandbox.openai.schema_check import failed_line
from batchline.sandbox.spool import read_lines

#: The endpoint whose lines are answered with ``response`` objects.
RESPONSES_ENDPOINT = "/v1/responses"

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
            "id": openai_id("batch_req_", self.now),
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
            stored = StoredFile(
                id=self._names[kind],
                filename=f"{self.batch.id}_{kind}.jsonl",
                purpose="batch_output",
                path=path,
                size=path.stat().st_size,
                created_at=int(self.now),
                expires_at=int(self.now) + FILE_LIFETIME,
            )
            self.store.files.add(stored.id, stored)
        return self._names.get("output"), self._names.get("error")


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
        refused = failed_line(body)
        if refused is not None:
            files.write("error", custom_id, refused, None)
            failed += 1
            continue
        try:
            answer, refused = _answer(batch, custom_id, body, fault, int(files.now))
        except UNREADABLE_REQUEST as exc:
            # A body the sandbox cannot read is one the API would refuse, line by line.
            answer, refused = None, malformed_response(exc)
        if answer is None:
            files.write("error", custom_id, refused, None)
            failed += 1
            continue
        files.write("output", custom_id, line_response(answer), None)
        answered += 1
        prompt, written = _usage(answer)
        prompt_total += prompt
        written_total += written
    batch.output_file_id, batch.error_file_id = files.publish()
    batch.done_counts = (answered, failed)
    batch.tokens = (prompt_total, written_total)
    batch.input_path.unlink(missing_ok=True)


def _answer(
    batch: Batch, custom_id: str, body: dict[str, Any], fault: LineFault | None, created: int
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the answer body, None), or (None, the error ``response``) for a body the endpoint
    refuses; Chat Completions and Responses answer in their own shapes."""
    if batch.endpoint == RESPONSES_ENDPOINT:
        refused = responses.refusal_of(body)
        if refused is not None:
            return None, refused
        return responses.response(custom_id, body, batch.model_source, fault, created), None
    return completion(custom_id, body, batch.model_source, fault, created), None


def _usage(answer: dict[str, Any]) -> tuple[int, int]:
    """(prompt, written) tokens of a chat completion or a response."""
    usage = answer["usage"]
    if answer.get("object") == "response":
        return usage["input_tokens"], usage["output_tokens"]
    return usage["prompt_tokens"], usage["completion_tokens"]
