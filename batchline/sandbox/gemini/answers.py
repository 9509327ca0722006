"""What a Gemini batch writes for each request: ``{"key", "response"}`` or ``{"key", "error"}``.

The answer itself is the Vertex app's (the same model, faults and schema rules; Gemini on both
services answers with one ``GenerateContentResponse``), reshaped to the Developer API's output
line (https://ai.google.dev/gemini-api/docs/batch-mode, read 2026-12): no echoed request, an
``error`` object instead of Vertex's ``status`` string, and none of Vertex's billing fields.
"""

from __future__ import annotations

from typing import Any

import orjson

from batchline.sandbox.fake_model import FakeModel
from batchline.sandbox.faults import Faults
from batchline.sandbox.google.predictions import Answerer
from batchline.sandbox.lifecycle import Timeline

#: Fields of Vertex's answers the Developer API does not send.
_VERTEX_ONLY_RESPONSE = frozenset({"createTime"})
_VERTEX_ONLY_USAGE = frozenset({"billablePromptUsage", "trafficType"})


class GeminiAnswerer:
    """One request (its key and ``GenerateContentRequest``) -> its output entry."""

    def __init__(
        self, batch_id: str, model: str, faults: Faults, fake: FakeModel, timeline: Timeline
    ) -> None:
        self._vertex = Answerer(batch_id, model, faults, fake, timeline)

    def answer(self, key: str, request: Any) -> tuple[dict[str, Any], bool]:
        """The entry (without its key) and whether the request succeeded."""
        prediction, succeeded = self._vertex.predict({"key": key, "request": request}, key)
        if not succeeded:
            return {"error": _error(str(prediction.get("status") or ""))}, False
        response = {
            k: v for k, v in prediction["response"].items() if k not in _VERTEX_ONLY_RESPONSE
        }
        usage = response.get("usageMetadata")
        if isinstance(usage, dict):
            response["usageMetadata"] = {
                k: v for k, v in usage.items() if k not in _VERTEX_ONLY_USAGE
            }
        return {"response": response}, True


def _error(status: str) -> dict[str, Any]:
    """Vertex words a request's error as ``Bad Request: {json}``; the Developer API sends the
    ``google.rpc.Status`` object itself."""
    _, _, payload = status.partition(": ")
    try:
        decoded = orjson.loads(payload)
    except orjson.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), dict):
        error = decoded["error"]
        return {
            "code": error.get("code", 400),
            "message": str(error.get("message", "")),
            "status": error.get("status", "INVALID_ARGUMENT"),
        }
    return {
        "code": 400,
        "message": status or "Request contains an invalid argument.",
        "status": "INVALID_ARGUMENT",
    }
