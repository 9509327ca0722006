"""The project's one Celery app, with batchline installed into it.

``celery -A shop worker`` and ``celery -A shop beat`` then run batchline's jobs beside the
project's own tasks, on the project's broker; batchline keeps its job store in ``REDIS_URL``.
"""

import os

from celery import Celery

from batchline.workers import install

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
install(app)
