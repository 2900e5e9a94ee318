"""The README's two commands, in its order, in one checkout: `make run`, then `make test`.

A copy of this checkout (no `.env`, no `.data`) is started the way `make run` starts it
(`python -m devkit.dev`: it writes the development `.env`, migrates, seeds the demo and
serves); once a demo provider's login page answers, it is stopped, and the test suite is started
in that same checkout, `.env` and all, on a part of the suite that touches the database, the
tenant schemas and the settings. It must pass: the developer's `.env` (DEBUG on, its own secret
and encryption keys) reaches no test.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
from django.db import connection

from devkit.testing import PYTHON, ROOT, free_port

# What `make test` runs in the second step: a slice of the real suite that needs the database,
# tenant schemas, encrypted fields and the settings (the whole suite runs in the outer `make test`).
SUITE_SLICE = ["tests/majismart/test_money.py", "tests/majismart/test_dotenv.py",
               "tests/clients/test_clients.py::test_personal_fields_are_encrypted_at_rest_and_found_by_phone",
               "tests/clients/test_clients.py::test_another_providers_client_is_404"]


def _a_fresh_shell() -> dict[str, str]:
    """The developer's shell: nothing of this test run, no settings of its own."""
    drop = ("DEBUG", "SECRET_KEY", "BASE_DOMAIN", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY", "MEDIA_DIR",
            "SITE_SCHEME", "SITE_PORT", "LOG_LEVEL", "DARAJA_SANDBOX_URL", "AFRICASTALKING_SANDBOX_URL")
    return {k: v for k, v in os.environ.items()
            if k not in drop and not k.startswith(("MAJISMART_", "PYTEST_", "DJANGO_"))}


def _server_url(dbname: str) -> str:
    """A database of its own on the server the tests use (the machine's, or the embedded one)."""
    db = connection.settings_dict
    host = db["HOST"] or "127.0.0.1"
    host = quote(host, safe="") if host.startswith("/") else host  # the embedded server's socket directory
    return f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{dbname}"


def _admin(sql: str) -> None:
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(sql)


def _checkout_copy(tmp_path: Path) -> Path:
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".data", ".env", "staticfiles", "__pycache__", "*.pyc", "node_modules"))
    assert not (checkout / ".env").exists()
    return checkout


def _get(port: int, host: str, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": f"{host}:{port}"})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def _make_run(checkout: Path, env: dict[str, str], port: int, log: Path) -> None:
    """`make run` until a demo provider's login page answers, then Ctrl-C as a developer would."""
    with open(log, "w") as out:
        proc = subprocess.Popen([PYTHON, "-m", "devkit.dev"], cwd=checkout, env=env, stdout=out,  # noqa: S603
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while True:
                assert proc.poll() is None, f"make run stopped ({proc.returncode}):\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"make run never served:\n{log.read_text()[-3000:]}"
                try:
                    status, body = _get(port, "mombasa-water.majismart.localhost", "/accounts/login/")
                except OSError:
                    time.sleep(0.5)
                    continue
                if status == 200:
                    break
                time.sleep(0.5)
            assert "Log in" in body or "log in" in body.lower()
            assert _get(port, "localhost", "/healthz")[0] == 200
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_make_run_then_make_test_in_one_checkout(tmp_path: Path) -> None:
    checkout = _checkout_copy(tmp_path)
    suffix = uuid.uuid4().hex[:8]
    run_db, suite_db = f"majismart_run_{suffix}", f"majismart_suite_{suffix}"
    _admin(f'CREATE DATABASE "{run_db}"')
    try:
        port = free_port()
        run_env = _a_fresh_shell()
        run_env.update(DATABASE_URL=_server_url(run_db), PORT=str(port),
                       DARAJA_STANDIN_PORT=str(free_port()), AFRICASTALKING_STANDIN_PORT=str(free_port()))
        run_env.pop("REDIS_URL", None)  # the fresh-machine default: tasks run eagerly in the web process
        _make_run(checkout, run_env, port, tmp_path / "make-run.log")

        dotenv = (checkout / ".env").read_text()
        assert "DEBUG=true" in dotenv and "SECRET_KEY=" in dotenv and "FIELD_ENCRYPTION_KEYS=" in dotenv

        # `make test`, in the same checkout with the `.env` `make run` left behind.
        test_env = _a_fresh_shell()
        test_env["DATABASE_URL"] = _server_url(suite_db)
        done = subprocess.run([PYTHON, "-m", "pytest", "-q", *SUITE_SLICE],  # noqa: S603
                              cwd=checkout, env=test_env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        assert " passed" in done.stdout and "failed" not in done.stdout and "error" not in done.stdout.lower()
        assert (checkout / ".env").read_text() == dotenv  # the suite did not rewrite it...

        # ...nor read it: the test settings, loaded in that checkout, hold none of its values.
        secret = next(line.split("=", 1)[1] for line in dotenv.splitlines() if line.startswith("SECRET_KEY="))
        shown = subprocess.run(  # noqa: S603
            [PYTHON, "-c", "import django.conf as c, json; s = c.settings; "
             "print(json.dumps([s.DEBUG, s.SECRET_KEY, list(s.FIELD_ENCRYPTION_KEYS)]))"],
            cwd=checkout, env={**test_env, "DJANGO_SETTINGS_MODULE": "majismart.settings.test"},
            capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0, shown.stderr
        debug, secret_key, keys = json.loads(shown.stdout.strip().splitlines()[-1])
        assert debug is False and secret_key != secret and not any(key in dotenv for key in keys)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{run_db}" WITH (FORCE)')
        _admin(f'DROP DATABASE IF EXISTS "test_{suite_db}" WITH (FORCE)')
