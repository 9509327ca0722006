"""One status vocabulary for every provider, mapped from each provider's own at the edge."""

from __future__ import annotations

from enum import StrEnum


class BatchStatus(StrEnum):
    """A provider batch's state in batchline's words (OpenAI's vocabulary, which is the richest).

    Both polling loops of the guide stop on these: ``completed``, ``failed``, ``cancelled`` and
    ``expired`` are terminal for every provider.
    """

    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


#: States after which the provider never changes the batch again.
TERMINAL_STATUSES: frozenset[BatchStatus] = frozenset(
    {BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.CANCELLED, BatchStatus.EXPIRED}
)

#: Terminal states whose results (possibly partial) can still be downloaded.
RESULT_BEARING_STATUSES: frozenset[BatchStatus] = frozenset(
    {BatchStatus.COMPLETED, BatchStatus.CANCELLED, BatchStatus.EXPIRED}
)
