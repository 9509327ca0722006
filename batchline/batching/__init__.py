"""The batch library: build, submit, poll and parse provider batches into typed results.

The public names are the guide's (``BatchProcessor``, ``BatchSuccess``, ``BatchError``,
``filter_successful``...), plus the types users annotate with. No Celery here.
"""

from batchline.batching.processor import BatchProcessor
from batchline.batching.providers.base import BatchInfo, RequestCounts
from batchline.batching.results import (
    RETRYABLE_ERRORS,
    BatchError,
    BatchResult,
    BatchSuccess,
    ErrorType,
    extract_results,
    filter_errors,
    filter_successful,
    get_results_by_custom_id,
    merge_results,
)
from batchline.batching.status import TERMINAL_STATUSES, BatchStatus

__all__ = [
    "RETRYABLE_ERRORS",
    "TERMINAL_STATUSES",
    "BatchError",
    "BatchInfo",
    "BatchProcessor",
    "BatchResult",
    "BatchStatus",
    "BatchSuccess",
    "ErrorType",
    "RequestCounts",
    "extract_results",
    "filter_errors",
    "filter_successful",
    "get_results_by_custom_id",
    "merge_results",
]
