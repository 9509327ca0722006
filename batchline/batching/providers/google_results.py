"""Vertex AI's ``predictions.jsonl`` lines as ``LineOutcome``s. A line echoes the request and
carries either a ``response`` or a non-empty ``status`` (the request's error, as a string).
``plain_prediction`` is the fast path for the common success; ``parse_prediction`` reads
everything.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from batchline.batching.providers.base import LineOutcome, PlainAnswer, token_usage
from batchline.batching.results import ErrorType

#: Finish reasons that mean the model (or Google's filters) declined to answer.
REFUSAL_REASONS = frozenset({"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION"})


def parse_prediction(line: bytes | str) -> LineOutcome:
    """One ``predictions.jsonl`` line -> ``LineOutcome``. Raises ``ValueError`` (or another
    lookup error the caller turns into a ``malformed_line``) only for an unreadable line."""
    data = orjson.loads(line)
    if not isinstance(data, dict):
        raise ValueError(f"a prediction line must be a JSON object, got {type(data).__name__}")
    custom_id = line_custom_id(data, line)
    status = data.get("status")
    if status:
        message, code = _status_error(status)
        return LineOutcome(
            custom_id=custom_id,
            error_type=ErrorType.PROVIDER_ERROR,
            error_message=message,
            provider_code=code,
            raw=data,
        )
    response = data.get("response")
    if not isinstance(response, dict):
        return _error(custom_id, ErrorType.PROVIDER_ERROR, "the line has no response", None, data)
    usage = _usage(response.get("usageMetadata"))
    block = (response.get("promptFeedback") or {}).get("blockReason")
    if block:
        detail = response["promptFeedback"].get("blockReasonMessage") or "the prompt was blocked"
        return _error(custom_id, ErrorType.REFUSAL, f"{block}: {detail}", block, data, usage)
    candidates = response.get("candidates") or []
    if not candidates:
        return _error(custom_id, ErrorType.PROVIDER_ERROR, "no candidates", None, data, usage)
    candidate = candidates[0]
    reason = candidate.get("finishReason")
    if reason == "MAX_TOKENS":
        message = "the answer was cut off at maxOutputTokens"
        return _error(custom_id, ErrorType.TRUNCATED, message, reason, data, usage)
    if reason in REFUSAL_REASONS:
        message = candidate.get("finishMessage") or f"the answer was blocked ({reason})"
        return _error(custom_id, ErrorType.REFUSAL, message, reason, data, usage)
    parts = (candidate.get("content") or {}).get("parts") or []
    texts = [p["text"] for p in parts if "text" in p and not p.get("thought")]
    if not texts and reason not in (None, "STOP"):
        message = candidate.get("finishMessage") or f"no answer (finishReason {reason})"
        return _error(custom_id, ErrorType.PROVIDER_ERROR, message, reason, data, usage)
    return LineOutcome(custom_id=custom_id, text="".join(texts), usage=usage)


def plain_prediction(record: Any) -> PlainAnswer | None:
    """A keyed prediction without status or block whose first candidate stopped normally with
    one text part; anything else takes ``parse_prediction``."""
    try:
        key = record["key"]
        if record.get("status"):
            return None
        response = record["response"]
        if (response.get("promptFeedback") or {}).get("blockReason"):
            return None
        candidate = response["candidates"][0]
        if candidate.get("finishReason") not in (None, "STOP"):
            return None
        parts = candidate["content"]["parts"]
        if len(parts) != 1 or parts[0].get("thought"):
            return None
        text = parts[0]["text"]
    except (KeyError, TypeError, IndexError, AttributeError):
        return None
    if type(key) is not str or not key or type(text) is not str:
        return None
    return key, text, _usage(response.get("usageMetadata"))


def line_custom_id(data: dict[str, Any], line: bytes | str) -> str:
    """``key`` if a string, else ``request.labels.custom_id``, else a numeric ``key``; else
    ``unkeyed-`` and a hash of the line.

    Lines of jobs not written by batchline carry neither; the hash keeps each such line a
    result of its own (distinct lines never share an id) and the same line the same id.
    """
    key = data.get("key")
    if isinstance(key, str) and key:
        return key
    # Vertex echoes a numeric-looking key as a number ("007" as 7): the label keeps the id as
    # it was sent, so it wins over the number.
    request = data.get("request")
    labels = request.get("labels") if isinstance(request, dict) else None
    label = labels.get("custom_id") if isinstance(labels, dict) else None
    if isinstance(label, str) and label:
        return label
    if isinstance(key, int | float) and not isinstance(key, bool):
        return str(key)
    raw = line.encode() if isinstance(line, str) else bytes(line)
    return "unkeyed-" + hashlib.blake2b(raw.strip(), digest_size=8).hexdigest()


def _status_error(status: Any) -> tuple[str, str | None]:
    """Vertex writes a failed request's error as a string; tolerate a ``google.rpc.Status``."""
    if isinstance(status, dict):
        code = status.get("status") or status.get("code")
        return str(status.get("message") or status), str(code) if code is not None else None
    return str(status), None


def _error(
    custom_id: str,
    error_type: ErrorType,
    message: str,
    code: str | None,
    raw: Any,
    usage: dict[str, int] | None = None,
) -> LineOutcome:
    return LineOutcome(
        custom_id=custom_id,
        error_type=error_type,
        error_message=message,
        provider_code=code,
        usage=usage,
        raw=raw,
    )


def _usage(meta: Any) -> dict[str, int] | None:
    """``usageMetadata`` in batchline's vocabulary. Gemini bills thinking tokens as output and
    counts them apart from the answer's, so ``output_tokens`` is their sum."""
    if not isinstance(meta, dict):
        return None
    answer = meta.get("candidatesTokenCount")
    thoughts = meta.get("thoughtsTokenCount")
    output = sum(n for n in (answer, thoughts) if isinstance(n, int) and not isinstance(n, bool))
    return token_usage(
        meta.get("promptTokenCount"),
        output,
        cached_input_tokens=meta.get("cachedContentTokenCount"),
        reasoning_tokens=thoughts,
    )
