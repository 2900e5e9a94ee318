"""`make run`: one command from a fresh clone to a running MajiSmart.

- writes a development `.env` (DEBUG on, generated SECRET_KEY and encryption key) if absent;
- with no DATABASE_URL, starts the embedded PostgreSQL (pgserver, data under `.data/`);
- migrates every schema, seeds the demo providers once, prints URLs and logins;
- starts the local Daraja (M-Pesa) and Africa's Talking (SMS) stand-ins for the sandbox;
- with REDIS_URL, runs web + Celery worker + beat together (honcho, Procfile.dev);
  without it, runs the web server alone and Celery tasks run eagerly in-process.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def dotenv_path() -> Path | None:
    """The `.env` the settings read (majismart/settings/base.py): the checkout's, or the file
    MAJISMART_DOTENV names; none when that is empty, as in the test suite and what it starts."""
    name = os.environ.get("MAJISMART_DOTENV", str(ROOT / ".env"))
    return Path(name) if name else None


def ensure_dotenv() -> None:
    path = dotenv_path()
    if path is None or path.exists() or os.environ.get("SECRET_KEY"):
        return  # configured already (a .env, or the environment itself)
    fernet_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    path.write_text(
        "# Written by `make run` for local development. See .env.example for every setting.\n"
        "DEBUG=true\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"FIELD_ENCRYPTION_KEYS={fernet_key}\n"
        f"BLIND_INDEX_KEY={secrets.token_urlsafe(32)}\n"
    )
    print(f"Wrote {path} (development settings, fresh secret and encryption keys).")


def load_dotenv() -> None:
    import environ

    path = dotenv_path()
    if path is not None and path.exists():
        environ.Env.read_env(str(path))


def manage(*args: str) -> None:
    subprocess.run([PY, str(ROOT / "manage.py"), *args], check=True, cwd=ROOT)


def run() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "majismart.settings.base")
    ensure_dotenv()
    load_dotenv()
    port = os.environ.setdefault("PORT", "8000")
    os.environ.setdefault("SITE_PORT", port)
    os.environ.setdefault("SITE_SCHEME", "http")
    if not os.environ.get("DATABASE_URL"):
        from devkit.embedded import embedded_database_url

        os.environ["DATABASE_URL"] = embedded_database_url()  # this process keeps it running
        print("No DATABASE_URL: using the embedded PostgreSQL in .data/pg")
    standin = _daraja_standin()
    sms_standin = _africastalking_standin()
    manage("compile_catalogues")  # Kiswahili: locale/*.po to .mo with polib
    manage("migrate_schemas", "--verbosity", "0")
    manage("setup_platform")
    manage("seed_demo")
    base = os.environ.get("BASE_DOMAIN", "majismart.localhost")
    if standin:
        print(f"M-Pesa (Daraja) sandbox calls go to the local stand-in on {standin.base_url}.")
    if sms_standin:
        print(f"SMS (Africa's Talking) sandbox calls go to the local stand-in on {sms_standin.base_url} "
              f"(see what was sent: {sms_standin.base_url}/__standin__/messages).")
        print(f"USSD and incoming SMS simulator (dial a demo provider's code as a client's phone): "
              f"{sms_standin.base_url}/__standin__/ussd")
    print(f"\nMajiSmart is starting on http://{base}:{port}/  (health: http://localhost:{port}/healthz)")
    if os.environ.get("REDIS_URL"):
        manage("setup_periodic_tasks")
        print("REDIS_URL is set: running web, Celery worker and beat (Procfile.dev).")
        # Procfile.dev names `python` and `celery`: make them this virtualenv's.
        os.environ["PATH"] = f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        # Not exec: this process holds the embedded database open while the others run.
        sys.exit(_serve([PY, "-m", "honcho", "-f", str(ROOT / "Procfile.dev"), "start"]))
    print("No REDIS_URL: Celery tasks run eagerly inside the web process (no worker, no beat).")
    os.environ["DEBUG"] = os.environ.get("DEBUG", "true")
    # Not exec: this process holds the embedded database open while the server runs.
    sys.exit(_serve([PY, str(ROOT / "manage.py"), "runserver", f"0.0.0.0:{port}"]))


def _standin(cls, label: str, url_env: str, port_env: str, default_port: int, **options):  # type: ignore[no-untyped-def]
    """A local stand-in serving from this process while MajiSmart runs, its sandbox URL put in
    `url_env`; none when `url_env` already points elsewhere (e.g. the vendor's real sandbox)."""
    if os.environ.get(url_env):
        return None
    port = int(os.environ.get(port_env, str(default_port)))
    try:
        standin = cls("127.0.0.1", port, **options).start()
    except OSError as exc:
        print(f"{label} stand-in not started (port {port}: {exc}); set {port_env}.")
        return None
    os.environ[url_env] = standin.base_url
    return standin


def _daraja_standin():  # type: ignore[no-untyped-def]
    from devkit.standins.daraja import DarajaStandIn

    return _standin(DarajaStandIn, "Daraja", "DARAJA_SANDBOX_URL", "DARAJA_STANDIN_PORT", 8701, callback_delay=2.0)


def _africastalking_standin():  # type: ignore[no-untyped-def]
    """seed_demo registers the demo providers' delivery-report URLs with it."""
    from devkit.standins.africastalking import AfricasTalkingStandIn

    return _standin(AfricasTalkingStandIn, "Africa's Talking", "AFRICASTALKING_SANDBOX_URL",
                    "AFRICASTALKING_STANDIN_PORT", 8702, dlr_delay=3.0)


def _serve(args: list[str]) -> int:
    """Run the server(s) in their own process group until they stop. Ctrl-C or SIGTERM here is
    passed to the whole group (runserver's reloader child, honcho's processes), and we wait."""
    proc = subprocess.Popen(args, cwd=ROOT, start_new_session=True)

    def stop(signum: int, _frame: object) -> None:
        print("\nStopping MajiSmart…", flush=True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    return proc.wait()


if __name__ == "__main__":
    run()
