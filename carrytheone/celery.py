"""The Celery application, configured from Django settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carrytheone.settings")

app = Celery("carrytheone")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The log context, published-at header and failure counts of every task (connects on import).
import carrytheone.task_signals  # noqa: E402, F401
