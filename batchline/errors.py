"""One exception family for everything batchline raises.

Each SDK's exceptions are translated into this family at the provider boundary, so callers
(and Celery retry policies) catch ``ProviderRateLimited`` rather than ``openai.RateLimitError``.
"""

from __future__ import annotations


class BatchlineError(Exception):
    """Root of every error batchline raises on purpose."""


class ConfigurationError(BatchlineError):
    """A setting is missing or wrong, e.g. a credential whose env var is unset."""


class WorkerImportError(ConfigurationError):
    """A worker cannot import what a job names by import path (its response model or a
    completion callback): the module is not importable where the worker runs. A local
    mistake, never retried: the message names the fix."""


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


class ResponseModelError(InvalidRequestError, TypeError):
    """The response model is not a pydantic model, or cannot be imported by workers."""


class JobFailedError(BatchlineError):
    """``JobHandle.wait()`` found the job ended without results a retry could give: the
    workers could not run it at all (a model or callback they cannot import, a missing
    credential). ``job_id`` and ``reason`` say which job and why."""

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


class ResultsNotReadyError(BatchlineError):
    """Results were asked for before the batch reached a state that has them."""


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
