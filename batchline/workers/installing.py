"""``install(app)``: batchline's tasks and beat entries on a Celery app the user already has.

Most Celery users have an app (Django, Flask) with its worker, beat and Flower; batchline runs
inside it rather than demanding a second fleet. Its safety settings travel with its tasks
(``tasks.JOB_TASK_OPTIONS``: late acks, redelivery when a worker dies, JSON), so the user's
other tasks keep their own defaults. What cannot be set per task is checked instead, and an
app that would break batchline's guarantees is refused:

- **pickle** among the accepted contents: a worker that accepts pickle runs whatever anyone
  who can write to the broker sends it (batchline's own messages are JSON either way);
- a Redis or SQS **visibility timeout** no longer than batchline's longest task or retry
  delay: the broker would hand a healthy task to a second worker while the first still runs.

The user's broker and result backend carry the tasks; Redis (``REDIS_URL``) stays the job
store. The standalone ``batchline worker`` is this same function on an app of batchline's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery.signals import celeryd_after_setup

from batchline.errors import AppConfigurationError
from batchline.workers.appbase import beat_schedule
from batchline.workers.routing import consumed_queues
from batchline.workers.runtime import Runtime
from batchline.workers.settings import WorkerSettings, get_worker_settings
from batchline.workers.tasks import register_tasks

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["install"]

#: Content types that deserialize to code execution (Celery's names and the MIME type).
UNSAFE_CONTENT = frozenset({"pickle", "application/x-python-serialize"})
#: Brokers that redeliver an unacknowledged message after ``visibility_timeout`` seconds.
VISIBILITY_BROKERS = ("redis", "rediss", "sqs")
#: kombu's default visibility timeout for those brokers (one hour), per the Celery docs
#: (https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html,
#: "Visibility timeout", read 2026-12).
DEFAULT_VISIBILITY_TIMEOUT = 3600


def install(app: Celery, settings: WorkerSettings | None = None, *, consume: bool = True) -> Celery:
    """Register batchline's tasks and beat entries on ``app`` and return it. Call it once the
    app is configured: it checks the configuration and adds to its ``beat_schedule``.

    ``settings`` default to the environment's (``REDIS_URL``, ``BATCHLINE_*``). With
    ``consume`` (the default), a worker of ``app`` also consumes batchline's queue
    (``BATCHLINE_QUEUE``), so ``celery -A proj worker`` runs the jobs with no ``-Q``; pass
    ``consume=False`` to leave the choice of queues to each worker's command line.

    Raises:
        AppConfigurationError: the app's configuration would break batchline's guarantees.
    """
    settings = settings or get_worker_settings()
    check_app(app, settings)
    current = getattr(app, "runtime", None)
    if current is None or current.settings != settings:
        app.runtime = Runtime(settings, app)
    register_tasks(app)
    app.conf.beat_schedule = {**(app.conf.beat_schedule or {}), **beat_schedule(settings)}
    if consume:
        _consume_queues(app, consumed_queues(settings.queue))
    return app


def check_app(app: Celery, settings: WorkerSettings) -> None:
    """Refuse an app whose configuration batchline cannot make safe per task."""
    conf = app.conf
    for name in ("accept_content", "result_accept_content"):
        unsafe = UNSAFE_CONTENT.intersection(conf.get(name) or ())
        if unsafe:
            raise AppConfigurationError(
                f"Celery app {app.main!r} accepts {sorted(unsafe)[0]} in {name}: batchline "
                "refuses to run where a broker message can execute code (accept JSON only)"
            )
    broker = str(conf.broker_url or "")
    if broker.split("://", 1)[0] in VISIBILITY_BROKERS:
        options = conf.broker_transport_options or {}
        timeout = float(options.get("visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT))
        needed = max(settings.task_time_limit, settings.retry_backoff_max, settings.poll_interval)
        if timeout <= needed:
            raise AppConfigurationError(
                f"Celery app {app.main!r} has a broker visibility_timeout of {timeout:g} s; "
                f"batchline needs more than {needed:g} s (its longest task or retry delay), or "
                "the broker redelivers healthy tasks (set broker_transport_options="
                "{'visibility_timeout': ...} or lower BATCHLINE_TASK_TIME_LIMIT)"
            )


def _consume_queues(app: Celery, queues: list[str]) -> None:
    """Make every worker of ``app`` consume batchline's queues (new work, finishing work,
    ticks: ``routing``) besides its own (Celery's documented way to add a queue at start:
    ``celeryd_after_setup``)."""

    def add_queues(sender: str, instance: Any, **_: Any) -> None:
        if instance.app is app:
            for queue in queues:
                instance.app.amqp.queues.select_add(queue)

    celeryd_after_setup.connect(add_queues, weak=False)
