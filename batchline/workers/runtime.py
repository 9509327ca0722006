"""What every task needs, built once per Celery app: settings, Redis, keys, the stores,
the rate limiter, and cached provider objects.

Caching matters: building an SDK client per task would open a new connection pool per task.
Processors are cached per model, response model and options (their request and result codecs
differ); the SDK client under them belongs to the provider account and is one per process
(``providers.base.shared_client``). Both are safe to share between the threads of a worker.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import orjson
import redis

from batchline.batching.processor import BatchProcessor
from batchline.batching.providers import Provider, provider_class
from batchline.modelref import worker_import_model
from batchline.workers.jobs import Job
from batchline.workers.keys import Keys
from batchline.workers.ratelimit import CallKind, RateLimiter
from batchline.workers.routing import queue_of
from batchline.workers.settings import WorkerSettings
from batchline.workers.stores.callbacks import CallbackStore
from batchline.workers.stores.claims import ClaimStore
from batchline.workers.stores.jobs import JobStore
from batchline.workers.stores.polls import PollStore
from batchline.workers.stores.rates import RateStore
from batchline.workers.stores.requests import RequestStore
from batchline.workers.stores.results import ResultStore
from batchline.workers.stores.server import ServerStore

if TYPE_CHECKING:
    from celery import Celery

#: Metadata keys (OpenAI metadata, Vertex labels) that tie a provider batch to its job.
META_JOB = "batchline_job"
META_SHARD = "batchline_shard"


class Runtime:
    """Shared state of one Celery app. Tasks reach it as ``self.app.runtime``."""

    def __init__(self, settings: WorkerSettings, app: Celery | None = None) -> None:
        self.settings = settings
        self.app = app
        self.redis: redis.Redis = redis.Redis.from_url(
            settings.redis_url, decode_responses=True, health_check_interval=30
        )
        self.keys = Keys(settings.key_prefix)
        #: Job records and shards (the one store most tasks need, hence the short name).
        self.store = JobStore(self.redis, self.keys)
        self.requests = RequestStore(self.redis, self.keys)
        self.results = ResultStore(self.redis, self.keys)
        self.callbacks = CallbackStore(self.redis, self.keys)
        self.claims = ClaimStore(self.redis, self.keys)
        self.polls = PollStore(self.redis, self.keys)
        self.server = ServerStore(self.redis, self.keys)
        self.limiter = RateLimiter(
            RateStore(self.redis, self.keys),
            settings.provider_rate_limit,
            finish_share=settings.finish_share,
        )
        self._lock = threading.Lock()
        self._processors: dict[str, BatchProcessor[Any]] = {}
        self._providers: dict[str, Provider] = {}

    def processor(self, job: Job) -> BatchProcessor[Any]:
        """The processor for a job's model, response model and provider options (cached)."""
        cache_key = orjson.dumps(
            [job.model, job.response_model, job.provider_options], option=orjson.OPT_SORT_KEYS
        ).decode()
        with self._lock:
            found = self._processors.get(cache_key)
        if found is not None:
            return found
        built = BatchProcessor(
            job.model,
            worker_import_model(job.response_model),
            settings=self.settings,
            **job.provider_options,
        )
        with self._lock:
            return self._processors.setdefault(cache_key, built)

    def provider(self, name: str) -> Provider:
        """The provider account, for calls that belong to no model (polling, cancelling)."""
        with self._lock:
            found = self._providers.get(name)
            if found is None:
                found = self._providers[name] = provider_class(name).for_account(self.settings)
            return found

    def cancel_batch(self, provider: str, batch_id: str) -> None:
        """Ask the provider to cancel one batch."""
        self.limiter.acquire(provider, kind=CallKind.FINISH, calls=2)  # the get, the cancel
        self.provider(provider).cancel(batch_id)

    def send(self, task_name: str, job: Job, *args: Any, countdown: float | None = None) -> None:
        """Send one of batchline's job tasks to its queue (``routing``), as a fresh message.

        The job id comes first; provider and model ride along as keyword arguments the task
        ignores, so that an operator sees in Flower which job, provider and model a task is
        about (never requests or credentials).
        """
        if self.app is None:
            raise RuntimeError("this Runtime has no Celery app to send tasks with")
        self.app.send_task(
            task_name,
            args=[job.id, *args],
            kwargs={"provider": job.provider, "model": job.model},
            queue=queue_of(task_name, self.settings.queue),
            countdown=countdown,
            serializer="json",  # whatever the app's default: an app batchline is installed in
        )

    def backoff(self, attempt: int, base: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based): doubling, capped."""
        first = self.settings.retry_backoff if base is None else base
        return float(min(first * (2**attempt), self.settings.retry_backoff_max))
