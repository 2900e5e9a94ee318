"""The real settings, plus a URLconf with the bare baseline view and a Celery queue of the bench's
own (so the callbacks the server enqueues are counted, and then deleted, without touching any
other queue)."""

import os

from majismart.settings.base import *  # noqa: F403

ROOT_URLCONF = "_callbacks_site.urls"
CELERY_TASK_DEFAULT_QUEUE = os.environ["BENCH_CELERY_QUEUE"]
