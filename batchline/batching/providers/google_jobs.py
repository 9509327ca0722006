"""Vertex AI batch jobs in batchline's words: their states, names, and the metadata batchline
keeps in their display name (exactly) and labels (sanitised)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from batchline.batching.providers.base import BatchInfo, RequestCounts
from batchline.batching.status import BatchStatus
from batchline.errors import BatchNotFoundError, InvalidRequestError

if TYPE_CHECKING:
    from google.genai.types import BatchJob

PROVIDER = "google"

#: Vertex's own state names -> batchline's, in one place.
STATUS_MAP: dict[str, BatchStatus] = {
    "JOB_STATE_UNSPECIFIED": BatchStatus.VALIDATING,
    "JOB_STATE_QUEUED": BatchStatus.VALIDATING,
    "JOB_STATE_PENDING": BatchStatus.VALIDATING,
    "JOB_STATE_RUNNING": BatchStatus.IN_PROGRESS,
    "JOB_STATE_UPDATING": BatchStatus.IN_PROGRESS,
    "JOB_STATE_PAUSED": BatchStatus.IN_PROGRESS,
    "JOB_STATE_SUCCEEDED": BatchStatus.COMPLETED,
    "JOB_STATE_PARTIALLY_SUCCEEDED": BatchStatus.COMPLETED,
    "JOB_STATE_FAILED": BatchStatus.FAILED,
    "JOB_STATE_CANCELLING": BatchStatus.CANCELLING,
    "JOB_STATE_CANCELLED": BatchStatus.CANCELLED,
    "JOB_STATE_EXPIRED": BatchStatus.EXPIRED,
}

#: Vertex rejects longer display names; metadata that does not fit is refused before upload.
DISPLAY_NAME_MAX = 128
#: Display names of batchline's jobs start with this, followed by the URL-encoded metadata.
DISPLAY_PREFIX = "batchline"
JOB_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/batchPredictionJobs/[^/]+$")
_LABEL_INVALID = re.compile(r"[^a-z0-9_-]")


def job_identity(metadata: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The display name (exact metadata, URL-encoded) and the labels (sanitised) of a job."""
    pairs = {str(k): str(v) for k, v in metadata.items()}
    display_name = f"{DISPLAY_PREFIX} {urlencode(pairs)}" if pairs else DISPLAY_PREFIX
    if len(display_name) > DISPLAY_NAME_MAX:
        raise InvalidRequestError(
            f"metadata too long for Vertex AI: it travels in the job's display name, which "
            f"holds {DISPLAY_NAME_MAX} characters ({len(display_name)} needed)"
        )
    labels = {label_key(k): label_value(v) for k, v in pairs.items()}
    return display_name, labels


def metadata_from_display_name(display_name: str | None) -> dict[str, str]:
    if not display_name or not display_name.startswith(DISPLAY_PREFIX + " "):
        return {}
    return dict(parse_qsl(display_name[len(DISPLAY_PREFIX) + 1 :], keep_blank_values=True))


def label_key(key: str) -> str:
    """A Vertex label key: lowercase ``[a-z0-9_-]``, starting with a letter, <= 63 chars."""
    cleaned = _LABEL_INVALID.sub("_", key.lower())
    if not cleaned[:1].isalpha():
        cleaned = "k" + cleaned
    return cleaned[:63]


def label_value(value: str) -> str:
    """A Vertex label value: lowercase ``[a-z0-9_-]``, <= 63 chars."""
    return _LABEL_INVALID.sub("_", value.lower())[:63]


def checked_job_name(batch_id: str) -> str:
    """The SDK raises a bare ``ValueError`` for a name of the wrong shape; no batch can have one."""
    if not JOB_NAME.match(batch_id):
        raise BatchNotFoundError(
            f"{batch_id!r} is not a Vertex AI batch job name "
            "(projects/{p}/locations/{l}/batchPredictionJobs/{id})",
            provider=PROVIDER,
        )
    return batch_id


def to_batch_info(job: BatchJob) -> BatchInfo:
    state = job.state.value if job.state is not None else "JOB_STATE_UNSPECIFIED"
    status = STATUS_MAP.get(state, BatchStatus.IN_PROGRESS)
    stats = job.completion_stats
    directory = job.output_info.gcs_output_directory if job.output_info else None
    counts = RequestCounts()
    if stats is not None:
        counts.completed = max(stats.successful_count or 0, 0)
        counts.failed = max(stats.failed_count or 0, 0)
        counts.pending = max(stats.incomplete_count or 0, 0)
        counts.total = counts.completed + counts.failed + counts.pending
    return BatchInfo(
        id=job.name or "",
        provider=PROVIDER,
        status=status,
        provider_status=state,
        request_counts=counts,
        created_at=job.create_time,
        completed_at=job.end_time if status.is_terminal else None,
        metadata=metadata_from_display_name(job.display_name),
        error=(job.error.message or str(job.error.code)) if job.error else None,
        result_locations=(directory,) if directory else (),
        raw=job.model_dump(mode="json", exclude_none=True),
    )
