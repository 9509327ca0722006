"""A BatchPredictionJob: what a create call asks for, and the job as Vertex's REST API shows it.

A job's life is the shared ``lifecycle.Timeline`` (so one ``Faults`` means the same thing for
every provider). Responses follow Google's JSON mapping of protobuf: int64 counts are strings,
and fields that hold their default (zero counts, empty lists) are left out, so readers must
treat a missing count as zero.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from google.genai.types import JobState

from batchline.sandbox.google.errors import (
    RPC_CANCELLED,
    RPC_DEADLINE_EXCEEDED,
    RPC_INVALID_ARGUMENT,
    BadRequest,
)
from batchline.sandbox.google.storage import split_gcs_uri
from batchline.sandbox.lifecycle import Job, Phase, Timeline
from batchline.sandbox.wire import rfc3339

#: Vertex's words for the shared phases. VALIDATING is split in two (see ``VertexJob.state``).
_STATE_FOR_PHASE = {
    Phase.RUNNING: JobState.JOB_STATE_RUNNING,
    Phase.FINALIZING: JobState.JOB_STATE_RUNNING,  # Vertex shows no separate finalizing step
    Phase.CANCELLING: JobState.JOB_STATE_CANCELLING,
    Phase.COMPLETED: JobState.JOB_STATE_SUCCEEDED,
    Phase.FAILED: JobState.JOB_STATE_FAILED,
    Phase.EXPIRED: JobState.JOB_STATE_EXPIRED,
    Phase.CANCELLED: JobState.JOB_STATE_CANCELLED,
}
TERMINAL_STATES = frozenset(
    {JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_EXPIRED}
    | {JobState.JOB_STATE_CANCELLED, JobState.JOB_STATE_PARTIALLY_SUCCEEDED}
)
_ENDING_ERRORS = {
    JobState.JOB_STATE_EXPIRED: {
        "code": RPC_DEADLINE_EXCEEDED,
        "message": "The batch prediction job expired before all requests were processed.",
    },
    JobState.JOB_STATE_CANCELLED: {
        "code": RPC_CANCELLED,
        "message": "The batch prediction job was cancelled.",
    },
}
FAIL_VALIDATION_ERROR = {
    "code": RPC_INVALID_ARGUMENT,
    "message": "Invalid batch prediction input (sandbox fault: batch_outcome=fail_validation).",
}
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


@dataclass
class JobSpec:
    """What a create call asks for, checked as Vertex checks it before accepting the job."""

    display_name: str
    model: str
    input_uris: list[str]
    output_prefix: str
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, body: Any) -> JobSpec:
        if not isinstance(body, dict):
            raise BadRequest("Invalid JSON payload received: expected an object.")
        if not body.get("displayName"):
            raise BadRequest("BatchPredictionJob.displayName is required.")
        if not body.get("model"):
            raise BadRequest("BatchPredictionJob.model is required.")
        inputs, outputs = body.get("inputConfig") or {}, body.get("outputConfig") or {}
        if inputs.get("instancesFormat") != "jsonl" or "gcsSource" not in inputs:
            raise BadRequest("The sandbox reads only jsonl input from inputConfig.gcsSource.")
        if outputs.get("predictionsFormat") != "jsonl" or "gcsDestination" not in outputs:
            raise BadRequest("The sandbox writes only jsonl to outputConfig.gcsDestination.")
        uris = inputs["gcsSource"].get("uris") or []
        uris = [uris] if isinstance(uris, str) else list(uris)
        if not uris:
            raise BadRequest("inputConfig.gcsSource.uris is empty.")
        for uri in uris:
            split_gcs_uri(uri)
        prefix = outputs["gcsDestination"].get("outputUriPrefix") or ""
        split_gcs_uri(prefix, bucket_only=True)
        labels = body.get("labels") or {}
        _check_labels(labels)
        return cls(body["displayName"], body["model"], uris, prefix, dict(labels))


def _check_labels(labels: Any) -> None:
    """Vertex's label rules: lowercase keys that start with a letter, values up to 63 chars."""
    if not isinstance(labels, dict) or len(labels) > 64:
        raise BadRequest("labels must be a map of at most 64 entries.")
    for key, value in labels.items():
        if not (
            isinstance(value, str) and _LABEL_KEY.fullmatch(key) and _LABEL_VALUE.fullmatch(value)
        ):
            raise BadRequest(
                f"Invalid label {key!r}: {value!r}. Keys and values hold lowercase letters, "
                "digits, '_' and '-', up to 63 characters; keys start with a letter."
            )


@dataclass
class Counts:
    """A finished run's requests: Vertex's completionStats."""

    successful: int = 0
    failed: int = 0
    incomplete: int = 0


@dataclass
class VertexJob:
    """One BatchPredictionJob: what was asked, its shared timeline, and what its run produced."""

    job_id: str
    project: str
    location: str
    seq: int
    spec: JobSpec
    job: Job
    #: Why the job fails (input checks at creation), or why its run broke.
    error: dict[str, Any] | None = None
    broke: bool = False
    counts: Counts | None = None
    output_dir: str | None = None

    @property
    def name(self) -> str:
        return (
            f"projects/{self.project}/locations/{self.location}/batchPredictionJobs/{self.job_id}"
        )

    @property
    def timeline(self) -> Timeline:
        return self.job.timeline

    def state(self, now: float) -> tuple[JobState, float]:
        """The state at ``now`` and when it was entered (``updateTime``).

        The shared VALIDATING phase is Vertex's QUEUED then PENDING, half of it each, which is
        how the SDK's JobState documents them (just created; preparing to run).
        """
        phase = self.timeline.phase(now)
        if phase is Phase.VALIDATING:
            created, started = self.timeline.created_at, self.timeline.started_at
            pending_at = (created + started) / 2
            if now < pending_at:
                return JobState.JOB_STATE_QUEUED, created
            return JobState.JOB_STATE_PENDING, pending_at
        entered = self.timeline.entered(phase, now)
        if phase is Phase.FINALIZING:
            entered = self.timeline.entered(Phase.RUNNING, now)
        state = _STATE_FOR_PHASE[phase]
        if self.broke and state in TERMINAL_STATES:
            state = JobState.JOB_STATE_FAILED
        return state, now if entered is None else entered

    def resource(self, now: float) -> dict[str, Any]:
        """The BatchPredictionJob as Vertex's REST API spells it."""
        state, since = self.state(now)
        spec = self.spec
        body: dict[str, Any] = {
            "name": self.name,
            "displayName": spec.display_name,
            "model": spec.model,
            "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": spec.input_uris}},
            "outputConfig": {
                "predictionsFormat": "jsonl",
                "gcsDestination": {"outputUriPrefix": spec.output_prefix},
            },
            "state": state.value,
            "createTime": rfc3339(self.timeline.created_at),
            "updateTime": rfc3339(since),
        }
        if spec.labels:
            body["labels"] = dict(spec.labels)
        started = self.timeline.entered(Phase.RUNNING, now)
        if started is not None:
            body["startTime"] = rfc3339(started)
        if state not in TERMINAL_STATES:
            return body
        body["endTime"] = rfc3339(since)
        if self.counts is not None:
            stats = {
                "successfulCount": self.counts.successful,
                "failedCount": self.counts.failed,
                "incompleteCount": self.counts.incomplete,
            }
            body["completionStats"] = {key: str(value) for key, value in stats.items() if value}
        if self.output_dir is not None:
            body["outputInfo"] = {"gcsOutputDirectory": self.output_dir}
        error = self.error or _ENDING_ERRORS.get(state)
        if error is not None:
            body["error"] = dict(error)
        return body


def numeric_id() -> str:
    """Vertex resource ids are 19-digit numbers; the SDK takes a bare id only if it is numeric."""
    return str(10**18 + secrets.randbelow(9 * 10**18))
