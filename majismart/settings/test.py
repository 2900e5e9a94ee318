"""Test settings: the real stack (PostgreSQL, schemas per provider), fast hashing, locmem email."""

from __future__ import annotations

import os

os.environ["MAJISMART_TESTING"] = "1"
# No `.env` for this process nor for any server, worker or settings check it starts (they run
# majismart.settings.base without MAJISMART_TESTING, but keep this).
os.environ["MAJISMART_DOTENV"] = ""

from .base import *  # noqa: E402,F403
from .base import REDIS_URL  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
if os.environ.get("MAJISMART_TEST_MAIL_DIR"):
    # The browser tests' server process: its emails land as files the test reads (an invitation link).
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = os.environ["MAJISMART_TEST_MAIL_DIR"]
# Tests run tasks in-process unless a test starts a real worker (tests/test_celery_worker.py).
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = REDIS_URL or "memory://"
FIELD_ENCRYPTION_KEYS = [
    "dGVzdC1rZXktb25lLW5vdC1mb3ItcHJvZHVjdGlvbiE=",
    "dGVzdC1rZXktdHdvLW5vdC1mb3ItcHJvZHVjdGlvbiE=",
]
AXES_FAILURE_LIMIT = 5
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

MEDIA_ROOT = Path(tempfile.gettempdir()) / "majismart-test-media"  # uploads never land in the checkout
# The browser tests' server (these settings, one process for the whole session, its cache never
# cleared) sees every persona log in from one address again and again: limits well above that.
# Still counted everywhere; tests/accounts/test_ratelimit.py sets small limits to see them bite.
RATE_LIMIT_FORMS_PER_IP = "600/m"
RATE_LIMIT_FORMS_PER_ACCOUNT = "100/m"
