"""One exception family for everything batchline raises.

Each SDK's exceptions are translated into this family at the provider boundary, so callers
(and Celery retry policies) catch ``ProviderRateLimited`` rather than ``openai.RateLimitError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batchline.batching.schema_rules.core import Violation


class BatchlineError(Exception):
    """Root of every error batchline raises on purpose; only its subclasses are raised."""


class ConfigurationError(BatchlineError):
    """A setting is missing or wrong, e.g. a credential whose env var is unset."""


class VolatileRedisError(ConfigurationError):
    """Workers or beat were started on a Redis that keeps nothing on disk (no AOF, no RDB)."""


class WorkerImportError(ConfigurationError):
    """A worker cannot import a job's response model or callback; never retried, names the fix."""


class ServiceUnavailableError(BatchlineError):
    """A service batchline needs on this side (Redis) does not answer; the message names it."""


class PortInUseError(ConfigurationError):
    """A port batchline was asked to listen on (sandbox, Flower) is taken by another process."""


class InvalidRequestError(BatchlineError, ValueError):
    """The caller asked for something that can never work: bad model string, empty list, ..."""


class UnknownProviderError(InvalidRequestError):
    """The model string names a provider batchline does not support."""


class LimitExceededError(InvalidRequestError):
    """A batch is over the provider's per-batch limit (requests or bytes); nothing was uploaded."""


class NoPriceError(InvalidRequestError, LookupError):
    """The price table has no entry for a model: a cost is never guessed, nor shown as zero."""


class BudgetExceededError(InvalidRequestError):
    """A job's upper cost estimate is over ``max_cost``; it was refused before any upload."""


class ResponseModelError(InvalidRequestError, TypeError):
    """The response model is not a pydantic model, or cannot be imported by workers."""


class SchemaRuleError(ResponseModelError):
    """The model's schema breaks a provider rule (docs/provider-rules.md); raised before upload."""

    #: Every ``batchline.batching.schema_rules.Violation`` found, naming the field and rule.
    violations: tuple[Violation, ...]

    def __init__(self, message: str, violations: Sequence[Violation] = ()) -> None:
        super().__init__(message)
        self.violations = tuple(violations)


class JobFailedError(BatchlineError):
    """``JobHandle.wait()`` found a job the workers could not run (a local mistake)."""

    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(f"job {job_id} failed: {reason}")
        self.job_id = job_id
        self.reason = reason


class ProviderError(BatchlineError):
    """The provider answered with an error. ``status_code`` and ``code`` are the provider's own."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status_code: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.code = code

    def __str__(self) -> str:
        where = f"{self.provider} " if self.provider else ""
        status = f"HTTP {self.status_code}" if self.status_code else "error"
        code = f" ({self.code})" if self.code else ""
        return f"{where}{status}{code}: {self.message}"


class ProviderRetryableError(ProviderError):
    """A transient provider failure: retrying later with backoff is the right response."""


class ProviderRateLimited(ProviderRetryableError):
    """HTTP 429: the provider asks us to slow down."""


class ProviderUnavailable(ProviderRetryableError):
    """HTTP 5xx, a timeout or a refused connection."""


class ProviderRejected(ProviderError):
    """A permanent 4xx: retrying the same call cannot succeed."""


class ProviderAuthError(ProviderRejected):
    """HTTP 401/403: the credential is missing, wrong, or lacks permission."""


class BatchNotFoundError(ProviderRejected):
    """HTTP 404: no batch with that id exists at the provider."""


class ProviderResponseError(ProviderError):
    """The provider answered successfully with something batchline cannot read."""


class ResultsNotReadyError(BatchlineError):
    """Results were asked for before the batch reached a state that has them."""


class JobNotFoundError(BatchlineError, KeyError):
    """No job with that id (never enqueued, deleted, or in another key prefix)."""

    def __str__(self) -> str:
        # KeyError would quote the message; a job id in quotes inside quotes reads badly.
        return str(self.args[0]) if self.args else "job not found"


class JobDataExpiredError(BatchlineError):
    """Part of a finished job's stored data is gone: it lives ``results_ttl`` seconds."""


class ResultsExpiredError(JobDataExpiredError):
    """A job's stored results (or its shard records) expired before they were read."""


class RequestsExpiredError(JobDataExpiredError):
    """A job's requests expired (with its results), so its failures cannot be retried."""


class RetryInProgressError(BatchlineError):
    """Another caller is still queueing the retry of the same job; ask again in a moment."""


class ClaimPending(BatchlineError):
    """Another attempt holds a shard's submit claim and may still be talking to the provider."""

    def __init__(self, message: str, retry_in: float) -> None:
        super().__init__(message)
        #: Seconds after which the submit task should look again.
        self.retry_in = retry_in


class SubmitBudgetBusy(BatchlineError):
    """No room in the provider's rate budget for a submission now; try again in ``retry_in``."""

    def __init__(self, message: str, retry_in: float) -> None:
        super().__init__(message)
        self.retry_in = retry_in


class CallbackError(BatchlineError):
    """A completion callback failed in a way a later attempt may fix; it will be retried."""


class PermanentCallbackError(CallbackError):
    """A callback failed in a way retrying cannot fix (no secret, a 4xx, not registered)."""


class JobTaskFailed(BatchlineError):
    """A task failed its job's step for good; raised so Celery (and Flower) record FAILURE."""


class AppConfigurationError(ConfigurationError):
    """A Celery app's settings would break batchline's guarantees; install() refuses it."""


def error_for_status(
    status_code: int | None,
    message: str,
    *,
    provider: str,
    code: str | None = None,
) -> ProviderError:
    """The batchline error for an HTTP failure; ``None`` means no answer at all (timeout,
    refused connection), which is transient."""
    if status_code is None or status_code >= 500 or status_code == 408:
        cls: type[ProviderError] = ProviderUnavailable
    elif status_code == 429:
        cls = ProviderRateLimited
    elif status_code in (401, 403):
        cls = ProviderAuthError
    elif status_code == 404:
        cls = BatchNotFoundError
    else:
        cls = ProviderRejected
    return cls(message, provider=provider, status_code=status_code, code=code)
