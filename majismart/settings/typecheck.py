"""Settings django-stubs loads for `make typecheck` (mypy): the test settings, and the database URL
they require, never connected, so the type check neither reads `.env` nor needs a PostgreSQL."""

from __future__ import annotations

import os

os.environ["DATABASE_URL"] = "postgres://typecheck@typecheck.invalid:5432/majismart"

from .test import *  # noqa: E402,F403
