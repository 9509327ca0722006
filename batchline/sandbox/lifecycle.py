"""The timed life of an emulated batch, shared by every provider app.

A batch's state is never advanced by a timer thread: it is computed from the clock whenever a
client looks (``Timeline.phase(now)``). So a sandbox with thousands of idle batches costs nothing,
and a test that sets ``completion_delay=0.3`` sees every state within 0.3 s of creation. Each
provider maps the generic ``Phase`` onto its own status words in one table.

Work that must happen once (writing a batch's output when it ends) is done by the first request
that finds the batch ended, under the batch's own lock (``Job.settle``), so other batches and
other calls are never held up by it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from batchline.sandbox.faults import BatchOutcome, Faults

#: Share of ``completion_delay`` spent validating the input before processing starts.
VALIDATING_SHARE = 0.2
#: Share of ``completion_delay`` after which processing is done and output is being written.
FINALIZING_SHARE = 0.8
#: Share of ``completion_delay`` a cancellation takes, from the cancel call to the end.
CANCELLING_SHARE = 0.25
#: Share of ``completion_delay`` at which a batch with the ``cancel`` outcome is cancelled.
SCRIPTED_CANCEL_SHARE = 0.5


class Phase(StrEnum):
    """Where a batch is, in words no provider uses (each maps them to its own)."""

    VALIDATING = "validating"
    RUNNING = "running"
    FINALIZING = "finalizing"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


#: Phases a batch never leaves.
TERMINAL_PHASES = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.EXPIRED, Phase.CANCELLED})


class Ending(StrEnum):
    """How a batch is going to end; fixed at creation except that a cancel call can change it."""

    COMPLETE = "complete"
    FAIL = "fail"
    EXPIRE = "expire"
    CANCEL = "cancel"


class Ran(StrEnum):
    """How many of a batch's requests were answered before it ended."""

    ALL = "all"
    SOME = "some"
    NONE = "none"


_ENDING_FOR_OUTCOME = {
    None: Ending.COMPLETE,
    BatchOutcome.FAIL_VALIDATION: Ending.FAIL,
    BatchOutcome.EXPIRE: Ending.EXPIRE,
    BatchOutcome.CANCEL: Ending.CANCEL,
}

_TERMINAL_FOR_ENDING = {
    Ending.COMPLETE: Phase.COMPLETED,
    Ending.FAIL: Phase.FAILED,
    Ending.EXPIRE: Phase.EXPIRED,
    Ending.CANCEL: Phase.CANCELLED,
}


@dataclass
class Timeline:
    """The schedule of one batch: when it starts, finalizes, and how and when it ends.

    Times are Unix seconds (floats). ``duration`` is the fault settings' ``completion_delay``
    at creation, so a test that changes the settings later does not move running batches.
    """

    created_at: float
    duration: float
    ending: Ending = Ending.COMPLETE
    #: When cancellation began (a cancel call, or the scripted ``cancel`` outcome).
    cancel_at: float | None = None
    #: The ending a cancel call replaced: a batch cancelled while finalizing had finished all.
    replaced: Ending | None = None

    @classmethod
    def start(cls, now: float, faults: Faults) -> Timeline:
        """The schedule for a batch created ``now`` under these fault settings."""
        timeline = cls(
            created_at=now,
            duration=max(0.0, faults.completion_delay),
            ending=_ENDING_FOR_OUTCOME[faults.batch_outcome],
        )
        if timeline.ending is Ending.CANCEL:
            timeline.cancel_at = now + SCRIPTED_CANCEL_SHARE * timeline.duration
        return timeline

    # -- fixed moments -------------------------------------------------------------------------
    @property
    def started_at(self) -> float:
        """End of validation: processing starts here (or the batch fails here)."""
        return self.created_at + VALIDATING_SHARE * self.duration

    @property
    def finalizing_at(self) -> float:
        return self.created_at + FINALIZING_SHARE * self.duration

    @property
    def ended_at(self) -> float:
        if self.ending is Ending.FAIL:
            return self.started_at
        if self.cancel_at is not None:
            return self.cancel_at + CANCELLING_SHARE * self.duration
        return self.created_at + self.duration

    # -- state at a moment ---------------------------------------------------------------------
    def phase(self, now: float) -> Phase:
        if now >= self.ended_at:
            return _TERMINAL_FOR_ENDING[self.ending]
        if self.cancel_at is not None and now >= self.cancel_at:
            return Phase.CANCELLING
        if now < self.started_at:
            return Phase.VALIDATING
        if self.ending is Ending.COMPLETE and now >= self.finalizing_at:
            return Phase.FINALIZING
        return Phase.RUNNING

    def entered(self, phase: Phase, now: float) -> float | None:
        """When the batch entered ``phase``, if it has by ``now`` (for ``*_at`` fields)."""
        moments: dict[Phase, float | None] = {
            Phase.VALIDATING: self.created_at,
            Phase.RUNNING: self.started_at if self._runs() else None,
            Phase.FINALIZING: self.finalizing_at if self._finalizes() else None,
            Phase.CANCELLING: self.cancel_at,
            _TERMINAL_FOR_ENDING[self.ending]: self.ended_at,
        }
        moment = moments.get(phase)
        return moment if moment is not None and moment <= now else None

    def progress(self, now: float) -> float:
        """Share of the processing done by ``now``: drives the running request counts."""
        stop = self.finalizing_at if self.ending is Ending.COMPLETE else self.ended_at
        if self.cancel_at is not None:
            stop = min(stop, self.cancel_at)
        span = stop - self.started_at
        if span <= 0:
            return 1.0 if now >= stop else 0.0
        return min(1.0, max(0.0, (now - self.started_at) / span))

    def is_over(self, now: float) -> bool:
        return self.phase(now) in TERMINAL_PHASES

    def expires_at(self, lifetime: float) -> float:
        """When the provider gives up on the batch: ``lifetime`` after creation, or, for a batch
        that is going to expire, the moment it does."""
        if self.ending is Ending.EXPIRE:
            return self.ended_at
        return self.created_at + lifetime

    # -- who got answered ----------------------------------------------------------------------
    def ran(self) -> Ran:
        """How many requests run before the batch ends, as things stand.

        All run when the batch completes, none when it fails validation or is cancelled before
        processing began, all when it is cancelled while finalizing. An expired batch, or one
        cancelled while running, runs some: the share ``faults.partial_share``.
        """
        if self.ending is Ending.COMPLETE:
            return Ran.ALL
        if self.ending is Ending.FAIL:
            return Ran.NONE
        if self.ending is Ending.CANCEL and self.cancel_at is not None:
            if self.cancel_at < self.started_at:
                return Ran.NONE
            if self._finalizes():
                return Ran.ALL
        return Ran.SOME

    def finished(self, custom_id: str, faults: Faults) -> bool:
        """Whether this request ran before the batch ended (the same ones every run, by id)."""
        ran = self.ran()
        return ran is Ran.ALL or (ran is Ran.SOME and faults.finishes_before_end(custom_id))

    # -- changes -------------------------------------------------------------------------------
    def cancel(self, now: float) -> bool:
        """Begin cancelling at ``now``; False if the batch already ended or is cancelling."""
        if self.is_over(now) or self.ending is Ending.FAIL:
            return False
        if self.cancel_at is not None and self.cancel_at <= now:
            return False
        self.replaced = self.ending
        self.ending = Ending.CANCEL
        self.cancel_at = now
        return True

    def _runs(self) -> bool:
        if self.ending is Ending.FAIL:
            return False
        return self.cancel_at is None or self.cancel_at >= self.started_at

    def _finalizes(self) -> bool:
        if self.ending is Ending.COMPLETE:
            return True
        cancelled_late = self.cancel_at is not None and self.cancel_at >= self.finalizing_at
        return self.replaced is Ending.COMPLETE and cancelled_late


@dataclass
class Job:
    """A batch's timeline plus the once-only work done when it ends.

    ``settle`` runs ``work`` the first time it is called after the batch ended; concurrent
    callers wait for that one run instead of repeating it.
    """

    timeline: Timeline
    faults: Faults
    settled: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def settle(self, now: float, work: Callable[[], None]) -> bool:
        """Run ``work`` once if the batch is over by ``now``; True when it is settled."""
        if self.settled:
            return True
        if not self.timeline.is_over(now):
            return False
        with self._lock:
            if not self.settled:
                work()
                self.settled = True
        return True

    def cancel(self, now: float) -> bool:
        """Begin cancelling; under the lock, so it cannot change a batch being settled."""
        with self._lock:
            return self.timeline.cancel(now)
