"""`make test` on a machine with no PostgreSQL: with DATABASE_URL unset, the suite uses the
embedded server (devkit.embedded). Loaded by `-p` (pyproject.toml's addopts) so that this runs
before pytest-django reads the settings, which require DATABASE_URL."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

# The Kiswahili catalogue, compiled before any test (or server it starts) reads it: polib, no
# gettext. Run from its file: importing the majismart package now would load the settings
# before pytest-django chose the test ones.
runpy.run_path(str(Path(__file__).resolve().parent.parent / "majismart" / "catalogues.py"))["compile_all"]()

if not os.environ.get("DATABASE_URL"):
    from devkit.embedded import embedded_database_url

    # Set for this process and inherited by the servers and workers the tests start.
    os.environ["DATABASE_URL"] = embedded_database_url()
