"""What a job writes for each input line: the prediction, or the error status Vertex reports.

Lines carry every top-level field of the input line (``key`` included), the request whole,
and a ``response`` shaped like the real batch predictions (see the reference files).
"""

from __future__ import annotations

import base64
import hashlib
import time
import zlib
from datetime import UTC, datetime
from typing import Any

import orjson

from batchline.batching.schema_rules.google import as_echoed_number, looks_numeric
from batchline.sandbox.fake_model import FakeModel, cached_tokens
from batchline.sandbox.faults import Faults, LineFault, pick_by_id
from batchline.sandbox.google.schema_check import schema_status
from batchline.sandbox.lifecycle import Timeline
from batchline.sandbox.spoiling import break_json, cut_short, decoded, violate_schema
from batchline.sandbox.wire import rfc3339

#: The ``status`` of a failed request. Vertex's exact wording is unpublished; this is its shape
#: as users report it: a short reason, then Google's error JSON.
_LINE_ERROR = (
    'Bad Request: {"error": {"code": 400, "message": "Request contains an invalid argument.", '
    '"status": "INVALID_ARGUMENT"}}'
)
_NO_CONTENTS_ERROR = (
    'Bad Request: {"error": {"code": 400, "message": "Unable to submit request because it has '
    'an empty contents field.", "status": "INVALID_ARGUMENT"}}'
)
_NOT_AN_OBJECT_ERROR = "Bad Request: the line is not a JSON object."


class Answerer:
    """Turns one input line into its output line: the model's answer, or the injected fault."""

    def __init__(
        self, job_id: str, model_name: str, faults: Faults, model: FakeModel, timeline: Timeline
    ) -> None:
        self.job_id = job_id
        self.model_version = model_name.rsplit("/", 1)[-1]
        self.faults = faults
        self.model = model
        # Lines are written when the job is settled, but stamped as processed while it ran.
        self.run_start = timeline.started_at
        self.run_span = max(0.0, min(timeline.ended_at, time.time()) - timeline.started_at)

    def predict(self, line: dict[str, Any] | None, custom_id: str) -> tuple[dict[str, Any], bool]:
        """The output line, and whether the request succeeded."""
        spread = zlib.crc32(custom_id.encode()) / 2**32
        now = self.run_start + self.run_span * spread
        processed = datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds")
        if line is None:
            return {"status": _NOT_AN_OBJECT_ERROR, "processed_time": processed}, False
        # Every top-level field comes back (``key`` included), and the request whole.
        echoed = {name: value for name, value in line.items() if name != "request"}
        key = echoed.get("key")
        if self.faults.numeric_keys and isinstance(key, str) and looks_numeric(key):
            echoed["key"] = as_echoed_number(key)  # what Vertex writes back for "007": 7
        request = echoed["request"] = line.get("request")
        if not isinstance(request, dict) or not request.get("contents"):
            return {**echoed, "status": _NO_CONTENTS_ERROR, "processed_time": processed}, False
        refused = schema_status(_field(request, "generationConfig", "generation_config"))
        if refused is not None:
            return {**echoed, "status": refused, "processed_time": processed}, False
        fault = self.faults.line_fault(custom_id)
        if fault is LineFault.ERROR:
            return {**echoed, "status": _LINE_ERROR, "processed_time": processed}, False
        response = self._response(request, custom_id, fault, now)
        return {**echoed, "status": "", "response": response, "processed_time": processed}, True

    def _response(
        self, request: dict[str, Any], custom_id: str, fault: LineFault | None, now: float
    ) -> dict[str, Any]:
        """A GenerateContentResponse with the fields real batch predictions carry."""
        digest = hashlib.blake2b(f"{self.job_id}:{custom_id}".encode(), digest_size=24).digest()
        unit = int.from_bytes(digest[16:], "big") / 2**64
        prompt_chars = _prompt_chars(request)
        # Keys in the order real predictions have them (alphabetical, as Vertex writes them).
        response: dict[str, Any] = {}
        if fault is LineFault.REFUSAL:
            response.update(_refusal(prompt_blocked=refused_prompt(custom_id)))
        # The model answers a moment before the line is written (about 0.6 s in the real files).
        response["createTime"] = rfc3339(max(self.run_start, now - 0.6 * unit))
        response["modelVersion"] = self.model_version
        if fault is LineFault.REFUSAL:
            response["responseId"] = _response_id(digest)
            response["usageMetadata"] = _usage(prompt_chars, 0, _cached(request, prompt_chars))
            return dict(sorted(response.items()))
        config = _field(request, "generationConfig", "generation_config") or {}
        text = self._text(request, config, custom_id, fault)
        finish_reason, output_tokens = "STOP", FakeModel.count_tokens(text)
        if fault is LineFault.TRUNCATED:
            text, finish_reason = cut_short(text), "MAX_TOKENS"
            limit = _field(config, "maxOutputTokens", "max_output_tokens")
            output_tokens = int(limit) if limit else FakeModel.count_tokens(text)
        candidate = {
            "avgLogprobs": -(0.02 + 0.8 * unit),
            "content": {"parts": [{"text": text}], "role": "model"},
            "finishReason": finish_reason,
        }
        response["candidates"] = [candidate]
        response["responseId"] = _response_id(digest)
        cached = _cached(request, prompt_chars)
        response["usageMetadata"] = _usage(prompt_chars, output_tokens, cached)
        return dict(sorted(response.items()))

    def _text(
        self,
        request: dict[str, Any],
        config: dict[str, Any],
        custom_id: str,
        fault: LineFault | None,
    ) -> str:
        schema = _field(config, "responseSchema", "response_schema") or _field(
            config, "responseJsonSchema", "response_json_schema"
        )
        answer = self.model.answer(custom_id, schema, request)
        if schema and fault is LineFault.SCHEMA_VIOLATION:
            answer = violate_schema(decoded(answer), schema)
        # Gemini pretty-prints JSON answers with two-space indents (see the real predictions).
        text = answer if isinstance(answer, str) else _pretty_json(answer)
        if fault is LineFault.INVALID_JSON:
            return break_json(text)
        return text


def _response_id(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def _pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def refused_prompt(custom_id: str) -> bool:
    """For a refusal: whether the prompt is blocked (else the answer), the same way every run."""
    return pick_by_id(f"refusal:{custom_id}", (True, False))


def _refusal(*, prompt_blocked: bool) -> dict[str, Any]:
    """Gemini refuses in two shapes: the prompt blocked, or the candidate stopped for safety."""
    rating = {
        "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
        "probability": "HIGH",
        "probabilityScore": 0.93,
        "severity": "HARM_SEVERITY_HIGH",
        "severityScore": 0.88,
        "blocked": True,
    }
    if prompt_blocked:
        feedback = {
            "blockReason": "SAFETY",
            "blockReasonMessage": "The prompt was blocked due to safety reasons.",
            "safetyRatings": [rating],
        }
        return {"promptFeedback": feedback}
    return {"candidates": [{"finishReason": "SAFETY", "safetyRatings": [rating]}]}


def _usage(prompt_chars: int, output_tokens: int, cached: int = 0) -> dict[str, Any]:
    prompt_tokens = max(1, prompt_chars // 4)
    usage: dict[str, Any] = {"billablePromptUsage": {"textCount": prompt_chars}}
    if cached:
        # Implicit-cache hits, counted inside promptTokenCount as Vertex does.
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
        usage["cachedContentTokenCount"] = cached
    if output_tokens:
        usage["candidatesTokenCount"] = output_tokens
        usage["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": output_tokens}]
    usage["promptTokenCount"] = prompt_tokens
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt_tokens}]
    usage["totalTokenCount"] = prompt_tokens + output_tokens
    # Real batch predictions say ON_DEMAND here, not BATCH (see the real predictions files).
    usage["trafficType"] = "ON_DEMAND"
    return usage


def _cached(request: dict[str, Any], prompt_chars: int) -> int:
    """Implicit-cache hits of the prompt: its system instruction's text."""
    system = _field(request, "systemInstruction", "system_instruction")
    parts = system.get("parts") if isinstance(system, dict) else None
    texts = [p.get("text") or "" for p in parts or [] if isinstance(p, dict)]
    return cached_tokens(texts, max(1, prompt_chars // 4))


def _prompt_chars(request: dict[str, Any]) -> int:
    contents = list(request.get("contents") or [])
    system = _field(request, "systemInstruction", "system_instruction")
    if isinstance(system, dict):
        contents.append(system)
    return sum(
        len(part.get("text") or "")
        for content in contents
        if isinstance(content, dict)
        for part in content.get("parts") or []
        if isinstance(part, dict)
    )


def _field(source: dict[str, Any], camel: str, snake: str) -> Any:
    """Vertex accepts both spellings of a proto field (the real predictions echo snake_case)."""
    value = source.get(camel)
    return source.get(snake) if value is None else value
