"""Browser tests: Playwright drives Debian's Chromium against a real gunicorn process serving
the test database (shared/reference/browser-tests.md)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from devkit.testing import PYTHON, child_env, free_port, process

# Playwright's sync API keeps an event loop running in this thread; our own DB access in
# fixtures is ordinary synchronous code, not async code touching the ORM.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(django_db_setup) -> dict[str, object]:  # type: ignore[no-untyped-def]
    # Depending on django_db_setup makes the test database exist before Playwright starts its
    # event loop; set up after that, Django's context-local connection would miss it.
    return {
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    }


@dataclass(frozen=True)
class AppServer:
    port: int
    mail_dir: Path | None = None  # the emails the server sent, one file per connection

    def mail(self) -> str:
        """Every email the server has sent so far, oldest first, as text."""
        if self.mail_dir is None:
            return ""
        return "\n".join(p.read_text() for p in sorted(self.mail_dir.iterdir(), key=lambda p: p.stat().st_mtime))

    def url(self, slug: str | None = None, path: str = "/") -> str:
        host = f"{slug}.{settings.BASE_DOMAIN}" if slug else settings.BASE_DOMAIN
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="session")
def daraja_session() -> Iterator[object]:
    """One Daraja stand-in for the browser tests' server: it posts its callbacks straight to it."""
    from devkit.standins.daraja import DarajaStandIn

    standin = DarajaStandIn("127.0.0.1", 0, callback_delay=1.5).start()
    yield standin
    standin.stop()


@pytest.fixture(scope="session")
def africastalking_session() -> Iterator[object]:
    """One Africa's Talking stand-in (any username and key) for the browser tests' server."""
    from devkit.standins.africastalking import AfricasTalkingStandIn

    standin = AfricasTalkingStandIn("127.0.0.1", 0, dlr_delay=0.5).start()
    yield standin
    standin.stop()


@pytest.fixture(scope="session")
def app_server(django_db_setup, django_db_blocker, tmp_path_factory, daraja_session,  # type: ignore[no-untyped-def]
               africastalking_session) -> Iterator[AppServer]:
    port = free_port()
    mail_dir = tmp_path_factory.mktemp("mail")
    with django_db_blocker.unblock():
        # The test settings (fast password hasher the personas were saved with), real gunicorn.
        env = child_env(SITE_PORT=str(port), SITE_SCHEME="http", CELERY_TASK_ALWAYS_EAGER="true",
                        DJANGO_SETTINGS_MODULE="majismart.settings.test",
                        DARAJA_SANDBOX_URL=daraja_session.base_url,
                        AFRICASTALKING_SANDBOX_URL=africastalking_session.base_url,
                        MAJISMART_TEST_MAIL_DIR=str(mail_dir))
    env.pop("REDIS_URL", None)
    log = tmp_path_factory.mktemp("server") / "gunicorn.log"
    args = [PYTHON, "-m", "gunicorn", "majismart.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", "2", "--access-logfile", "-", "--logger-class", "majismart.gunicorn_logging.RedactingLogger"]
    with process(args, env, port=port, log=log):
        yield AppServer(port, mail_dir)
