"""Gemini Developer API batches in batchline's words: their states, names, counts and metadata,
read from the operation JSON the Batch API returns.

google-genai's ``BatchJob`` drops ``metadata.batchStats`` and the operation's ``error`` in
Developer-API mode (``_BatchJob_from_mldev`` in its ``batches.py`` copies neither), so the
counts and a failed batch's reason are read from the raw operation here.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from batchline.batching.providers.base import BatchInfo, RequestCounts
from batchline.batching.providers.google_jobs import DISPLAY_PREFIX, metadata_from_display_name
from batchline.batching.status import BatchStatus
from batchline.errors import BatchNotFoundError, InvalidRequestError

PROVIDER = "gemini"

#: The Batch API's ``BATCH_STATE_*`` -> batchline's
#: (https://ai.google.dev/api/batch-mode#BatchState, read 2026-12). There is no cancelling
#: state: a cancel under way shows as running until the batch is cancelled.
STATUS_MAP: dict[str, BatchStatus] = {
    "BATCH_STATE_UNSPECIFIED": BatchStatus.VALIDATING,
    "BATCH_STATE_PENDING": BatchStatus.VALIDATING,
    "BATCH_STATE_RUNNING": BatchStatus.IN_PROGRESS,
    "BATCH_STATE_SUCCEEDED": BatchStatus.COMPLETED,
    "BATCH_STATE_FAILED": BatchStatus.FAILED,
    "BATCH_STATE_CANCELLED": BatchStatus.CANCELLED,
    "BATCH_STATE_EXPIRED": BatchStatus.EXPIRED,
}
#: Batch names as the API hands them out: ``batches/`` and a lowercase id.
BATCH_NAME = re.compile(r"batches/[a-z0-9][a-z0-9-]*")
#: Display names batchline writes stay within Vertex's 128 characters; the Developer API
#: documents no limit, and the same bound keeps the metadata of both Google providers alike.
DISPLAY_NAME_MAX = 128
#: Where an ended batch's results are: its responses file, or inline in the operation.
INLINE_LOCATION = "inline"
_EXTRA_DIGITS = re.compile(r"(\.\d{6})\d+")


def display_name(metadata: dict[str, str]) -> str:
    """``batchline`` and the URL-encoded metadata: the Batch API has no metadata of its own
    and its list has no filter, so reconciliation reads the pairs back from here."""
    pairs = {str(k): str(v) for k, v in metadata.items()}
    name = f"{DISPLAY_PREFIX} {urlencode(pairs)}" if pairs else DISPLAY_PREFIX
    if len(name) > DISPLAY_NAME_MAX:
        raise InvalidRequestError(
            f"metadata too long for a Gemini batch: it travels in the batch's display name, "
            f"which batchline keeps within {DISPLAY_NAME_MAX} characters ({len(name)} needed)"
        )
    return name


def checked_batch_name(batch_id: str) -> str:
    """The SDK raises a bare ``ValueError`` for another shape; no batch can have one."""
    if not BATCH_NAME.fullmatch(batch_id):
        raise BatchNotFoundError(
            f"{batch_id!r} is not a Gemini batch name (batches/{{id}})", provider=PROVIDER
        )
    return batch_id


def to_batch_info(operation: dict[str, Any]) -> BatchInfo:
    """One batch operation (``GET batches/{id}``, an entry of the list) -> ``BatchInfo``."""
    meta = operation.get("metadata") or {}
    state = str(meta.get("state") or "BATCH_STATE_UNSPECIFIED")
    status = STATUS_MAP.get(state, BatchStatus.IN_PROGRESS)
    stats = meta.get("batchStats") or {}
    counts = RequestCounts(
        total=_count(stats, "requestCount"),
        completed=_count(stats, "successfulRequestCount"),
        failed=_count(stats, "failedRequestCount"),
        pending=_count(stats, "pendingRequestCount"),
    )
    output = meta.get("output") or {}
    locations: tuple[str, ...] = ()
    if output.get("responsesFile"):
        locations = (str(output["responsesFile"]),)
    elif output.get("inlinedResponses"):
        locations = (INLINE_LOCATION,)
    error = operation.get("error")
    return BatchInfo(
        id=str(operation.get("name") or meta.get("name") or ""),
        provider=PROVIDER,
        status=status,
        provider_status=state,
        request_counts=counts,
        created_at=_stamp(meta.get("createTime")),
        completed_at=_stamp(meta.get("endTime")) if status.is_terminal else None,
        metadata=metadata_from_display_name(meta.get("displayName")),
        error=_error_text(error) if isinstance(error, dict) and status.is_terminal else None,
        result_locations=locations,
        raw=operation,
    )


def inline_responses(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """An inline batch's responses, each ``{"response"|"error", "metadata": {"key"}}``."""
    output = (operation.get("metadata") or {}).get("output") or {}
    responses = (output.get("inlinedResponses") or {}).get("inlinedResponses") or []
    return [entry for entry in responses if isinstance(entry, dict)]


def _count(stats: dict[str, Any], key: str) -> int:
    """int64 counts come as strings, and zero ones are left out (Google's JSON mapping)."""
    try:
        return max(int(stats.get(key) or 0), 0)
    except (TypeError, ValueError):
        return 0


def _stamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    # Google writes up to nanoseconds; datetime holds microseconds.
    trimmed = _EXTRA_DIGITS.sub(r"\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(trimmed)
    except ValueError:
        return None


def _error_text(error: dict[str, Any]) -> str:
    message = error.get("message")
    return str(message) if message else f"error code {error.get('code')}"
