"""The example Django project. Its Celery app loads with Django, as Celery's Django guide has
it, so that ``shared_task`` and ``enqueue_batch`` in views find it."""

from shop.celery import app as celery_app

__all__ = ["celery_app"]
