"""The workers' own knobs, on top of the library's ``Settings`` (same env, read once).

Every number here bounds something that can go wrong for hours: how long a claim of unknown
fate is trusted, how long a poller's lease lasts, how often a failing call is retried.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, model_validator

from batchline.config import Settings
from batchline.errors import ConfigurationError


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class WorkerSettings(Settings):
    """Settings for the Celery service. Build one with ``WorkerSettings()`` or pass overrides."""

    def as_env(self) -> dict[str, str]:
        """Environment variables that make ``WorkerSettings()`` equal these settings in
        another process (a child worker or beat, a CLI command)."""
        env: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None or field.validation_alias is None:
                continue
            alias = field.validation_alias.choices[0]  # type: ignore[union-attr]
            raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            env[str(alias)] = str(raw)
        return env

    #: Celery queue every batchline task goes to.
    queue: str = Field("batchline", validation_alias=_env("BATCHLINE_QUEUE"))
    #: Prefix kombu puts before its own Redis keys (queues, unacked index); empty = Celery's.
    broker_key_prefix: str = Field("", validation_alias=_env("BATCHLINE_BROKER_KEY_PREFIX"))
    #: Seconds before Redis hands an unacknowledged message to another worker. Must exceed the
    #: longest task and the longest retry countdown, or healthy tasks run twice.
    visibility_timeout: int = Field(6 * 3600, validation_alias=_env("BATCHLINE_VISIBILITY_TIMEOUT"))
    #: Seconds between sweeps that give a dead worker's messages back to the queue.
    unacked_restore_interval: int = Field(
        10, validation_alias=_env("BATCHLINE_UNACKED_RESTORE_INTERVAL")
    )
    #: Hard ceiling of one task (prefork and solo pools enforce it; threads rely on HTTP timeouts).
    task_time_limit: int = Field(3600, validation_alias=_env("BATCHLINE_TASK_TIME_LIMIT"))
    #: Seconds Celery keeps a task's own result (job results live elsewhere, see results_ttl).
    result_expires: int = Field(24 * 3600, validation_alias=_env("BATCHLINE_RESULT_EXPIRES"))
    #: Threads per worker process: the work is HTTP and Redis, not CPU.
    worker_concurrency: int = Field(16, validation_alias=_env("BATCHLINE_WORKER_CONCURRENCY"))

    #: Cap on requests per provider batch below the provider's own limit (None = provider's).
    max_requests_per_batch: int | None = Field(
        None, validation_alias=_env("BATCHLINE_MAX_REQUESTS_PER_BATCH")
    )
    #: Cap on bytes per provider batch below the provider's own limit (None = provider's).
    max_bytes_per_batch: int | None = Field(
        None, validation_alias=_env("BATCHLINE_MAX_BYTES_PER_BATCH")
    )

    #: Seconds a submit claim whose call never reported back (a crash or a timeout) is trusted
    #: before batchline concludes the provider never created the batch and submits again.
    submit_grace: float = Field(1800.0, validation_alias=_env("BATCHLINE_SUBMIT_GRACE"))
    #: How many recent provider batches reconciliation reads when looking for a lost submit.
    reconcile_scan: int = Field(100, validation_alias=_env("BATCHLINE_RECONCILE_SCAN"))
    #: Seconds a poller holds a pending shard; if it dies, another tick polls it after this.
    poll_lease: float = Field(300.0, validation_alias=_env("BATCHLINE_POLL_LEASE"))
    #: Most shards one poll tick handles per provider.
    poll_batch: int = Field(500, validation_alias=_env("BATCHLINE_POLL_BATCH"))

    #: Share of each rate window kept for finishing work (polls, result downloads, cancels)
    #: while there is any: submissions get the rest, so they can never starve running jobs.
    finish_share: float = Field(
        0.4, ge=0.0, lt=1.0, validation_alias=_env("BATCHLINE_FINISH_SHARE")
    )
    #: Seconds a submit task waits for room in the budget before giving its worker thread back
    #: (it is retried a moment later): a backlog of submissions never holds every thread.
    submit_budget_wait: float = Field(
        0.5, ge=0.0, validation_alias=_env("BATCHLINE_SUBMIT_BUDGET_WAIT")
    )
    #: Seconds a job may stay in one non-terminal state without any change before the sweep
    #: re-sends its next step (its message may be lost). Must exceed ``retry_backoff_max``, so
    #: that a task merely waiting out a retry countdown is never re-driven.
    stall_after: float = Field(900.0, validation_alias=_env("BATCHLINE_STALL_AFTER"))
    #: Seconds between two sweeps (one beat entry, ``batchline.sweep_jobs``).
    sweep_interval: float = Field(60.0, validation_alias=_env("BATCHLINE_SWEEP_INTERVAL"))
    #: Most stalled jobs one sweep re-drives; the rest wait for the next sweep.
    sweep_batch: int = Field(500, validation_alias=_env("BATCHLINE_SWEEP_BATCH"))
    #: Start workers and beat on a Redis that keeps nothing on disk (a restart loses every
    #: job record while the provider batches go on being paid for). Off: they refuse to start.
    allow_volatile_redis: bool = Field(
        False, validation_alias=_env("BATCHLINE_ALLOW_VOLATILE_REDIS")
    )

    #: First retry delay in seconds; doubles on every attempt up to ``retry_backoff_max``.
    retry_backoff: float = Field(2.0, validation_alias=_env("BATCHLINE_RETRY_BACKOFF"))
    retry_backoff_max: float = Field(600.0, validation_alias=_env("BATCHLINE_RETRY_BACKOFF_MAX"))
    #: Attempts of a provider call (submit, results download) before the job fails.
    max_retries: int = Field(10, validation_alias=_env("BATCHLINE_MAX_RETRIES"))
    #: Attempts of one callback before it is recorded as failed.
    callback_max_retries: int = Field(6, validation_alias=_env("BATCHLINE_CALLBACK_MAX_RETRIES"))
    #: Seconds a webhook POST may take.
    webhook_timeout: float = Field(10.0, validation_alias=_env("BATCHLINE_WEBHOOK_TIMEOUT"))
    #: Results written to Redis per pipelined round trip.
    results_chunk_size: int = Field(1000, validation_alias=_env("BATCHLINE_RESULTS_CHUNK_SIZE"))

    @model_validator(mode="after")
    def _visibility_covers_everything(self) -> WorkerSettings:
        longest = max(self.task_time_limit, self.retry_backoff_max, self.poll_interval)
        if self.visibility_timeout <= longest:
            raise ConfigurationError(
                f"BATCHLINE_VISIBILITY_TIMEOUT ({self.visibility_timeout} s) must exceed the "
                f"longest task or retry delay ({longest:g} s), or Redis redelivers healthy tasks"
            )
        if self.stall_after <= self.retry_backoff_max:
            raise ConfigurationError(
                f"BATCHLINE_STALL_AFTER ({self.stall_after:g} s) must exceed "
                f"BATCHLINE_RETRY_BACKOFF_MAX ({self.retry_backoff_max:g} s), or the sweep "
                "re-drives tasks that are only waiting out a retry delay"
            )
        if self.poll_lease <= self.poll_interval:
            raise ConfigurationError(
                f"BATCHLINE_POLL_LEASE ({self.poll_lease:g} s) must exceed "
                f"BATCHLINE_POLL_INTERVAL ({self.poll_interval:g} s): a tick takes shards due "
                "within half an interval, so a shorter lease lets two ticks poll one shard"
            )
        return self


@lru_cache(maxsize=1)
def get_worker_settings() -> WorkerSettings:
    """The process-wide worker settings, read once."""
    return WorkerSettings()
