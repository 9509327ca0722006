"""Fault injection: what can go wrong, how often, and for which requests.

Faults are decided per ``custom_id`` from a seeded hash, so a test that asks for "10 % errors"
gets the same 10 % every run, whatever order the lines are processed in.
"""

from __future__ import annotations

import hashlib
import random
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from batchline.errors import InvalidRequestError

_Choice = TypeVar("_Choice")

#: The shares of requests that draw a line fault, tried in this order.
_LINE_RATES = (
    "error_rate",
    "invalid_json_rate",
    "schema_violation_rate",
    "truncated_rate",
    "refusal_rate",
)
#: The shares of API calls answered with an HTTP error.
_HTTP_RATES = ("http_429_rate", "http_500_rate", "http_503_rate")
_RATES = (*_LINE_RATES, *_HTTP_RATES, "partial_share")


class LineFault(StrEnum):
    """What can go wrong with one request's answer."""

    ERROR = "error"  # the provider reports an error for the request
    INVALID_JSON = "invalid_json"  # the answer is not JSON
    SCHEMA_VIOLATION = "schema_violation"  # JSON, but not valid for the requested schema
    TRUNCATED = "truncated"  # cut off at max_tokens
    REFUSAL = "refusal"  # the model refuses


class BatchOutcome(StrEnum):
    """How a whole batch ends when a test wants something other than success."""

    FAIL_VALIDATION = "fail_validation"
    EXPIRE = "expire"
    CANCEL = "cancel"


@dataclass
class Faults:
    """Seeded, deterministic fault injection. Rates are shares in [0, 1]."""

    seed: int = 0
    error_rate: float = 0.0
    invalid_json_rate: float = 0.0
    schema_violation_rate: float = 0.0
    truncated_rate: float = 0.0
    refusal_rate: float = 0.0
    #: Calls refused as if the credential were revoked (401, in the provider's words).
    http_401_rate: float = 0.0
    http_429_rate: float = 0.0
    http_500_rate: float = 0.0
    http_503_rate: float = 0.0
    batch_outcome: BatchOutcome | None = None
    #: Seconds from creation until a batch is finished (split over its intermediate states).
    completion_delay: float = 1.0
    #: For ``expire``/``cancel`` outcomes: the share of requests that finish before the end.
    partial_share: float = 0.5
    #: Vertex: echo a numeric-looking ``key`` as a JSON number ("007" comes back as 7), as a
    #: live capture shows the real service doing (issue 15).
    numeric_keys: bool = False
    #: OpenAI: how many batches, from now on, fail validation with ``token_limit_exceeded``
    #: (the organisation's enqueued-token quota is full) before capacity frees and batches run.
    capacity_refusals: int = 0
    #: Vertex AI: a job fails partway, after ``partial_share`` of its requests ran; their rows
    #: are written, so the failed job reports ``successfulCount > 0`` and an output folder.
    fail_partway: bool = False
    _rng: random.Random = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Refuse settings that cannot mean anything, rather than run a sandbox that quietly
        ignores them: a rate outside 0..1, or an unknown batch outcome.

        Raises:
            InvalidRequestError: naming the setting and the values it accepts.
        """
        if self.batch_outcome is not None:
            try:
                self.batch_outcome = BatchOutcome(self.batch_outcome)
            except ValueError:
                choices = ", ".join(outcome.value for outcome in BatchOutcome)
                raise InvalidRequestError(
                    f"batch outcome {self.batch_outcome!r} is not one of {choices}"
                ) from None
        for name in _RATES:
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise InvalidRequestError(f"{name} must be between 0 and 1, got {rate:g}")
        if self.completion_delay < 0:
            raise InvalidRequestError(
                f"completion_delay must be 0 or more seconds, got {self.completion_delay:g}"
            )
        self._rng = random.Random(self.seed)

    def _unit(self, key: str) -> float:
        digest = hashlib.blake2b(f"{self.seed}:{key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def line_fault(self, custom_id: str) -> LineFault | None:
        """The fault (if any) for this request: the same answer for the same seed and id."""
        point = self._unit(custom_id)
        for fault, rate in (
            (LineFault.ERROR, self.error_rate),
            (LineFault.INVALID_JSON, self.invalid_json_rate),
            (LineFault.SCHEMA_VIOLATION, self.schema_violation_rate),
            (LineFault.TRUNCATED, self.truncated_rate),
            (LineFault.REFUSAL, self.refusal_rate),
        ):
            if point < rate:
                return fault
            point -= rate
        return None

    def finishes_before_end(self, custom_id: str) -> bool:
        """For expired/cancelled batches: whether this request ran before the batch ended."""
        return self._unit("partial:" + custom_id) < self.partial_share

    def take_capacity_refusal(self) -> bool:
        """Whether the batch being created now finds the enqueued-token quota full; each
        refusal uses one of ``capacity_refusals``."""
        with self._lock:
            if self.capacity_refusals <= 0:
                return False
            self.capacity_refusals -= 1
            return True

    def http_fault(self) -> int | None:
        """An HTTP status to fail this call with, or None. Drawn from a seeded stream."""
        with self._lock:
            point = self._rng.random()
        for status, rate in (
            (401, self.http_401_rate),
            (429, self.http_429_rate),
            (500, self.http_500_rate),
            (503, self.http_503_rate),
        ):
            if point < rate:
                return status
            point -= rate
        return None


def pick_by_id(custom_id: str, choices: Sequence[_Choice]) -> _Choice:
    """One of ``choices`` for this request, the same every run and independent of the seed.

    Spreads a fault's variants (which error body, which refusal shape) over the requests
    that drew it, so a test with a handful of faulty lines still sees every variant.
    """
    return choices[zlib.crc32(custom_id.encode()) % len(choices)]
