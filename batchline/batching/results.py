"""Result types and the helpers of the guide.

``BatchSuccess`` and ``BatchError`` are slotted dataclasses rather than pydantic models: a job can
hold a million of them, the payload ``result`` is already validated by the response model, and
re-validating it inside a generic wrapper would double the parse cost. They are not frozen:
a frozen dataclass's ``__init__`` costs three times as much, once per result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)


class ErrorType(StrEnum):
    """Why a request produced no typed result. Every ``BatchError`` carries exactly one."""

    #: The provider reported an error for this request (its code and message are kept).
    PROVIDER_ERROR = "provider_error"
    #: The model's answer was not valid JSON.
    INVALID_JSON = "invalid_json"
    #: The answer was JSON but did not validate against the response model.
    VALIDATION_ERROR = "validation_error"
    #: The model refused to answer.
    REFUSAL = "refusal"
    #: The answer was cut off at ``max_tokens``.
    TRUNCATED = "truncated"
    #: The batch expired before this request ran.
    EXPIRED = "expired"
    #: The batch was cancelled before this request ran.
    CANCELLED = "cancelled"
    #: The result line itself could not be read.
    MALFORMED_LINE = "malformed_line"
    #: The provider returned no line for a request that was submitted.
    MISSING = "missing"
    #: Never sent: a mistake on this side (a response model or callback the workers cannot
    #: import, a missing credential). Not in ``RETRYABLE_ERRORS``: fix it, then retry it
    #: explicitly.
    CONFIGURATION_ERROR = "configuration_error"


@dataclass(slots=True)
class BatchSuccess(Generic[T]):
    """A request whose answer validated against the response model."""

    custom_id: str
    result: T
    #: Token counts the provider reported for this request, when it reported any.
    usage: dict[str, int] | None = field(default=None, compare=False)
    success: Literal[True] = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "custom_id": self.custom_id,
            "success": True,
            "result": self.result.model_dump(mode="json"),
            "usage": self.usage,
        }


@dataclass(slots=True)
class BatchError:
    """A request that produced no typed result. It deliberately has no ``result`` attribute,
    so that ``hasattr(r, "result")`` tells the two kinds apart as the guide does."""

    custom_id: str
    error_type: ErrorType | str
    error_message: str
    raw_data: Any = field(default=None, compare=False)
    #: The provider's own error code, when the provider gave one.
    provider_code: str | None = None
    #: Token counts the provider reported (and bills) for this request: a truncated, refused
    #: or invalid answer was still generated. ``None`` for a request that never ran.
    usage: dict[str, int] | None = field(default=None, compare=False)
    success: Literal[False] = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "custom_id": self.custom_id,
            "success": False,
            "error_type": str(self.error_type),
            "error_message": self.error_message,
            "provider_code": self.provider_code,
            "raw_data": self.raw_data,
            "usage": self.usage,
        }


BatchResult = BatchSuccess[T] | BatchError

#: Errors a second try can fix: the request never ran (expired, cancelled, missing) or the
#: provider failed it. An answer the model did give (refused, cut off, not valid) would likely
#: come back the same; name those error types explicitly to retry them too.
RETRYABLE_ERRORS: frozenset[ErrorType] = frozenset(
    {ErrorType.PROVIDER_ERROR, ErrorType.EXPIRED, ErrorType.CANCELLED, ErrorType.MISSING}
)


def retry_ids(
    results: Iterable[BatchSuccess[T] | BatchError],
    error_types: Iterable[ErrorType | str] = RETRYABLE_ERRORS,
) -> set[str]:
    """The custom ids whose result is an error of one of ``error_types``."""
    wanted = {str(kind) for kind in error_types}
    return {
        r.custom_id for r in results if isinstance(r, BatchError) and str(r.error_type) in wanted
    }


def merge_results(
    first: Iterable[BatchSuccess[T] | BatchError],
    retried: Iterable[BatchSuccess[T] | BatchError],
) -> list[BatchSuccess[T] | BatchError]:
    """One result per request after a retry: the retry's result where it has one, in the first
    run's order; a success of the first run is never replaced by a retry's error."""
    latest = {r.custom_id: r for r in retried}
    merged: list[BatchSuccess[T] | BatchError] = []
    for result in first:
        again = latest.pop(result.custom_id, None)
        if again is None or (result.success and not again.success):
            merged.append(result)
        else:
            merged.append(again)
    merged.extend(latest.values())
    return merged


def result_from_dict(data: dict[str, Any], response_model: type[T]) -> BatchSuccess[T] | BatchError:
    """Rebuild a result stored with ``to_dict`` (workers keep results in Redis this way)."""
    if data.get("success"):
        return BatchSuccess(
            custom_id=data["custom_id"],
            result=response_model.model_validate(data["result"]),
            usage=data.get("usage"),
        )
    return BatchError(
        custom_id=data["custom_id"],
        error_type=_error_type(data.get("error_type", "")),
        error_message=data.get("error_message", ""),
        raw_data=data.get("raw_data"),
        provider_code=data.get("provider_code"),
        usage=data.get("usage"),
    )


def _error_type(value: str) -> ErrorType | str:
    try:
        return ErrorType(value)
    except ValueError:
        return value


def filter_successful(results: Iterable[BatchSuccess[T] | BatchError]) -> list[BatchSuccess[T]]:
    return [r for r in results if isinstance(r, BatchSuccess)]


def filter_errors(results: Iterable[BatchSuccess[T] | BatchError]) -> list[BatchError]:
    return [r for r in results if isinstance(r, BatchError)]


def extract_results(results: Iterable[BatchSuccess[T] | BatchError]) -> list[T]:
    return [r.result for r in results if isinstance(r, BatchSuccess)]


def get_results_by_custom_id(
    results: Iterable[BatchSuccess[T] | BatchError],
) -> dict[str, BatchSuccess[T] | BatchError]:
    return {r.custom_id: r for r in results}
