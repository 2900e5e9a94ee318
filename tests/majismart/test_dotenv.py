"""`make run` then `make test` in one checkout: the developer's `.env` reaches no test.

Each check imports the settings in a process of its own, from a copy of the `majismart` package
in a scratch directory holding a hostile `.env` (so the checkout never gets one): the settings'
BASE_DIR is that directory, and its `.env` is exactly where `make run` would have written it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from devkit.testing import PYTHON, child_env

ROOT = Path(__file__).resolve().parents[2]

# Every value a developer's `.env` could hold that would change a test; each one says "evil".
HOSTILE = {
    "DEBUG": "true",
    "SECRET_KEY": "evil-secret-key-" + "e" * 40,
    "DATABASE_URL": "postgres://evil@evil.example:5432/evil",
    "REDIS_URL": "redis://evil.example:6379/0",
    "BASE_DOMAIN": "evil.example",
    "EXTRA_ALLOWED_HOSTS": "evil.example",
    "SITE_SCHEME": "evil-http",
    "SITE_PORT": "6666",
    "EMAIL_URL": "smtp://evil.example:25",
    "DEFAULT_FROM_EMAIL": "evil@evil.example",
    "BLIND_INDEX_KEY": "evil-blind-index-key-" + "e" * 20,
    "DARAJA_SANDBOX_URL": "http://evil.example/daraja",
    "AFRICASTALKING_SANDBOX_URL": "http://evil.example/at",
    "CELERY_TASK_DEFAULT_QUEUE": "evil",
    "MEDIA_DIR": "evil-media",
    "LOG_LEVEL": "DEBUG",
}
SHOWN = ("DEBUG", "SECRET_KEY", "DATABASES", "REDIS_URL", "CELERY_BROKER_URL", "BASE_DOMAIN", "ALLOWED_HOSTS",
         "SITE_SCHEME", "SITE_PORT", "EMAIL_HOST", "DEFAULT_FROM_EMAIL", "BLIND_INDEX_KEY", "DARAJA_URLS",
         "AFRICASTALKING_URLS", "CELERY_TASK_DEFAULT_QUEUE", "MEDIA_ROOT", "LOGGING")
SHOW_SETTINGS = (
    "import json, sys\n"
    "from importlib import import_module\n"
    "s = import_module(sys.argv[1])\n"
    f"print(json.dumps({{name: repr(getattr(s, name)) for name in {SHOWN!r}}}))\n"
)


def _checkout_with_a_hostile_dotenv(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "majismart", tmp_path / "majismart", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / ".env").write_text("".join(f"{key}={value}\n" for key, value in HOSTILE.items()))
    return tmp_path


def _run_settings(checkout: Path, module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-c", SHOW_SETTINGS, module], env=env, cwd=checkout,  # noqa: S603
                          capture_output=True, text=True, timeout=120)


def _settings(checkout: Path, module: str, env: dict[str, str]) -> dict[str, str]:
    done = _run_settings(checkout, module, env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _a_fresh_shell() -> dict[str, str]:
    """The environment `make test` starts from: the developer's shell, nothing of a test run, and
    the DATABASE_URL `make test` sets when the shell has none (devkit.pytest_plugin: the embedded
    PostgreSQL), before anything reads the settings."""
    return {**{k: v for k, v in os.environ.items()
               if k not in HOSTILE and not k.startswith(("MAJISMART_", "PYTEST_", "DJANGO_"))},
            "DATABASE_URL": "postgres://embedded@127.0.0.1:1/embedded"}


def test_the_settings_read_the_checkouts_dotenv_outside_the_tests(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The control: the scratch checkout's `.env` is the one `make run` leaves for development."""
    shown = _settings(_checkout_with_a_hostile_dotenv(tmp_path), "majismart.settings.base", _a_fresh_shell())
    assert shown["BASE_DOMAIN"] == "'evil.example'" and shown["DEBUG"] == "True"
    assert shown["SITE_SCHEME"] == "'evil-http'"


def test_a_developers_dotenv_changes_nothing_in_the_test_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    shown = _settings(_checkout_with_a_hostile_dotenv(tmp_path), "majismart.settings.test", _a_fresh_shell())
    assert [f"{name}={value}" for name, value in shown.items() if "evil" in value.lower()] == []
    assert shown["DEBUG"] == "False"
    assert shown["BASE_DOMAIN"] == "'majismart.localhost'"
    assert shown["SITE_SCHEME"] == "'https'" and shown["SITE_PORT"] == "''"
    assert shown["REDIS_URL"] == "''" and shown["CELERY_BROKER_URL"] == "'memory://'"
    assert "'NAME': 'embedded'" in shown["DATABASES"]


def test_with_no_database_url_the_settings_refuse_and_start_no_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Development's embedded PostgreSQL is started by `make run` and `make test` (devkit/), never
    by the settings: the `.env`'s DATABASE_URL aside (the test settings read no `.env`), none."""
    env = {k: v for k, v in _a_fresh_shell().items() if k != "DATABASE_URL"}
    done = _run_settings(_checkout_with_a_hostile_dotenv(tmp_path), "majismart.settings.test", env)
    assert done.returncode != 0 and "ImproperlyConfigured: DATABASE_URL is not set" in done.stderr
    assert not (tmp_path / ".data").exists()


def test_no_process_the_suite_starts_reads_the_dotenv(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Servers, workers and `make run`'s launcher run majismart.settings.base without
    MAJISMART_TESTING; what they inherit from the suite keeps the `.env` out all the same."""
    assert os.environ["MAJISMART_DOTENV"] == ""  # set by majismart.settings.test in this process
    env = {k: v for k, v in child_env().items() if k not in HOSTILE or k in ("DEBUG", "DATABASE_URL", "BASE_DOMAIN",
                                                                              "SECRET_KEY", "BLIND_INDEX_KEY",
                                                                              "MEDIA_DIR", "LOG_LEVEL")}
    shown = _settings(_checkout_with_a_hostile_dotenv(tmp_path), "majismart.settings.base", env)
    assert [f"{name}={value}" for name, value in shown.items() if "evil" in value.lower()] == []
    assert shown["SITE_SCHEME"] == "'http'"  # DEBUG (the child's own) and no SITE_SCHEME

    from devkit import dev

    assert dev.dotenv_path() is None  # `make run`'s launcher, started by a test, neither reads nor writes one
