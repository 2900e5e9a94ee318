"""`make test` on a machine with no PostgreSQL: with DATABASE_URL unset, the suite uses the
embedded server (devkit.embedded). Loaded by `-p` (pyproject.toml's addopts) so that this runs
before pytest-django reads the settings, which require DATABASE_URL."""

from __future__ import annotations

import os

if not os.environ.get("DATABASE_URL"):
    from devkit.embedded import embedded_database_url

    # Set for this process and inherited by the servers and workers the tests start.
    os.environ["DATABASE_URL"] = embedded_database_url()
