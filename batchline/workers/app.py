"""The Celery app with batchline's tasks: ``celery -A batchline.workers.app worker``.

A user's own app gets the same tasks from ``batchline.workers.install`` instead.

The app and its configuration are built in ``batchline.workers.appbase`` (see there for why
each setting is there); this module registers the tasks on it and sits at the top of the
package, since the tasks reach every layer of the workers.
"""

from __future__ import annotations

from typing import Any

from celery.signals import beat_init, worker_init

from batchline.batching.providers import provider_classes
from batchline.errors import VolatileRedisError
from batchline.workers.appbase import BatchlineCelery, celery_config, default_app, new_app
from batchline.workers.installing import install
from batchline.workers.persistence import check_persistence
from batchline.workers.settings import WorkerSettings, get_worker_settings

__all__ = ["BatchlineCelery", "app", "celery_config", "create_app"]


def create_app(settings: WorkerSettings | None = None) -> BatchlineCelery:
    """A Celery app of batchline's own for ``settings``, with its tasks installed on it the
    way ``install`` puts them on a user's app (the worker's ``-Q`` picks the queue)."""
    settings = settings or get_worker_settings()
    app = new_app(settings)
    install(app, settings, consume=False)
    return app


@worker_init.connect
def import_provider_sdks(**_: Any) -> None:
    """Import every provider's SDK while the worker starts, not inside its first task: the
    imports take seconds, which would otherwise delay the first job of a fresh worker (and
    ``enqueue_batch`` callers, which never start a worker, do not pay for them)."""
    provider_classes()


@worker_init.connect
def refuse_volatile_redis_worker(sender: Any = None, **_: Any) -> None:
    """A worker checks its Redis keeps data on disk before it takes any task."""
    _refuse_volatile(sender, "worker")


@beat_init.connect
def refuse_volatile_redis_beat(sender: Any = None, **_: Any) -> None:
    """So does beat, before its first tick."""
    _refuse_volatile(sender, "beat")


def _refuse_volatile(sender: Any, role: str) -> None:
    app = getattr(sender, "app", None)
    if not isinstance(app, BatchlineCelery):
        return  # another app in the same process: not ours to judge
    try:
        check_persistence(app.runtime, role)
    except VolatileRedisError as exc:
        # Celery catches and logs an Exception raised by a signal handler, then starts
        # anyway; SystemExit is what stops the process, with this line and exit status 1.
        raise SystemExit(f"error: {exc}") from None


#: The app ``celery -A batchline.workers.app`` and ``enqueue_batch`` use, from the environment.
app = default_app()
install(app, app.runtime.settings, consume=False)
