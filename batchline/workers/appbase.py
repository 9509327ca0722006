"""The Celery app object and its configuration, before any task is registered on it.

The job API only sends tasks, by name, so it needs this much and no more; the tasks (and,
through them, everything the workers do) are registered by ``batchline.workers.app``, which
sits at the top of the package.

The configuration makes failures visible rather than silent: JSON only (a pickle payload is
code execution for whoever can write to the broker), late acks with redelivery when a worker
dies, one unacknowledged message per worker, a visibility timeout longer than any task or
retry, time limits, and task events for Flower. The broker transport is kombu's Redis transport
with the fix in ``batchline.workers.broker``, so that workers outlive a Redis restart.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery
from kombu.entity import Queue

from batchline.batching.providers import PROVIDERS
from batchline.workers.routing import consumed_queues, queue_of, routes
from batchline.workers.runtime import Runtime
from batchline.workers.settings import WorkerSettings, get_worker_settings
from batchline.workers.tasknames import POLL_PROVIDER, SWEEP_JOBS


class BatchlineCelery(Celery):  # type: ignore[misc]
    """A Celery app that carries batchline's ``runtime`` (settings, Redis, job store)."""

    runtime: Runtime


#: kombu's Redis transport with its connection-loss fix (see ``batchline.workers.broker``).
BROKER_TRANSPORT = "batchline.workers.broker:Transport"

#: kombu's own TTL (seconds) of the lock one worker holds while it gives expired messages back.
KOMBU_RESTORE_LOCK_TTL = 300


def restore_lock_ttl(visibility_timeout: float) -> int:
    """Seconds kombu's restore lock (``unacked_mutex``) lives: a tenth of the visibility
    timeout, between 1 s and kombu's 300 s.

    A worker killed while it holds the lock delays every redelivery until the lock expires, so
    a fixed 300 s would dwarf a short visibility timeout. The lock only has to outlast one
    sweep (a few Redis calls); if it expires during a slow one, two sweeps at once are still
    safe, since kombu moves each message back in a WATCH transaction.
    """
    return max(1, min(KOMBU_RESTORE_LOCK_TTL, int(visibility_timeout // 10)))


def celery_config(settings: WorkerSettings) -> dict[str, Any]:
    """Celery settings for batchline (see the module docstring for why each is there)."""
    transport: dict[str, Any] = {
        "visibility_timeout": settings.visibility_timeout,
        "unacked_restore_interval": settings.unacked_restore_interval,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": restore_lock_ttl(settings.visibility_timeout),
    }
    backend: dict[str, Any] = {}
    if settings.broker_key_prefix:
        transport["global_keyprefix"] = settings.broker_key_prefix
        backend["global_keyprefix"] = settings.broker_key_prefix
    return {
        "broker_url": settings.redis_url,
        "broker_transport": BROKER_TRANSPORT,
        "result_backend": settings.redis_url,
        "task_serializer": "json",
        "result_serializer": "json",
        "event_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": transport,
        "result_backend_transport_options": backend,
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": max(1, settings.task_time_limit - 60),
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_track_started": True,
        "broker_connection_retry_on_startup": True,
        "result_expires": settings.result_expires,
        "task_default_queue": settings.queue,
        "task_routes": routes(settings.queue),
        # A worker started without --queues consumes every batchline queue.
        "task_queues": [Queue(name) for name in consumed_queues(settings.queue)],
        "worker_concurrency": settings.worker_concurrency,
        "worker_pool": "threads",
        "beat_schedule": beat_schedule(settings),
        "timezone": "UTC",
    }


def beat_schedule(settings: WorkerSettings) -> dict[str, dict[str, Any]]:
    """batchline's beat entries: one poll tick per provider every ``poll_interval``."""
    poll_every = settings.poll_interval
    schedule: dict[str, dict[str, Any]] = {
        f"batchline-poll-{provider}": {
            "task": POLL_PROVIDER,
            "schedule": poll_every,
            "args": (provider,),
            # A tick that waited longer than one interval in the queue is stale: drop it.
            "options": {
                "queue": queue_of(POLL_PROVIDER, settings.queue),
                "expires": max(poll_every, 1.0),
            },
        }
        for provider in PROVIDERS
    }
    # The sweep re-drives jobs whose message was lost (workers/sweep.py).
    schedule["batchline-sweep"] = {
        "task": SWEEP_JOBS,
        "schedule": settings.sweep_interval,
        "options": {
            "queue": queue_of(SWEEP_JOBS, settings.queue),
            "expires": max(settings.sweep_interval, 1.0),
        },
    }
    return schedule


def new_app(settings: WorkerSettings) -> BatchlineCelery:
    """A Celery app for ``settings`` with its runtime, and no tasks registered yet."""
    app = BatchlineCelery("batchline", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.runtime = Runtime(settings, app)
    return app


_default: BatchlineCelery | None = None
_default_lock = threading.Lock()


def default_app() -> BatchlineCelery:
    """The app ``enqueue_batch`` and ``get_job`` use when given none: built once, from the
    environment, on first use (``batchline.workers.app.app`` is this same object)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = new_app(get_worker_settings())
        return _default
