"""The reports tests share the dashboard home's story (tests/web/test_home.py)."""

from tests.web.test_home import story  # noqa: F401 - the fixture, for every reports test
