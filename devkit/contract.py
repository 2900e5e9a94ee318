"""`make contract`: the REST API against its own OpenAPI schema, with schemathesis.

- a throw-away database: `<name>_contract` beside DATABASE_URL's (dropped before and after), or,
  with no DATABASE_URL, an embedded PostgreSQL in a temporary directory;
- migrated and seeded with the project's own commands (`seed_demo`), and an API key made for a
  demo provider by `create_api_key` (shared/API.md);
- a real gunicorn serving it, with the Daraja and Africa's Talking stand-ins for the sandbox
  (billing runs send SMS) and Celery tasks run eagerly;
- `schemathesis run` over every operation of the provider's `/api/schema/`, as that key, with the
  checks: no server error, every status code, content type and body as documented.

Exits with schemathesis' status: non-zero on any failure. CONTRACT_EXAMPLES (examples per
operation and phase, default 25) and CONTRACT_SEED (default fixed, so a failure reproduces)
tune the run; the report (JUnit) and the server's log are left in .data/contract/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
REPORT_DIR = ROOT / ".data" / "contract"
PROVIDER = "mombasa-water"  # one of seed_demo's providers: clients, meters, invoices, payments
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def main() -> int:
    from devkit.standins.africastalking import AfricasTalkingStandIn
    from devkit.standins.daraja import DarajaStandIn
    from devkit.testing import free_port, process

    started = time.monotonic()
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    daraja = DarajaStandIn("127.0.0.1", 0, callback_delay=1.0).start()
    sms = AfricasTalkingStandIn("127.0.0.1", 0, dlr_delay=0.5).start()
    try:
        with contract_database() as database_url:
            env = server_env(database_url, DARAJA_SANDBOX_URL=daraja.base_url,
                             AFRICASTALKING_SANDBOX_URL=sms.base_url)
            manage(env, "migrate_schemas", "--verbosity", "0")
            manage(env, "setup_platform")
            manage(env, "seed_demo")
            key = manage(env, "create_api_key", PROVIDER, "--name", "schemathesis", "--role", "owner").split()[-1]
            domain = json.loads(manage(env, "provider_info", PROVIDER, "--json"))["domain"]
            port = free_port()
            # gunicorn.conf.py as in production, on loopback. No request-line limit: a 414 from
            # gunicorn (HTML, before the app) is the HTTP server's, not the API's contract.
            args = [PY, "-m", "gunicorn", "majismart.wsgi:application", "--bind", f"127.0.0.1:{port}",
                    "--workers", "2", "--threads", "4", "--limit-request-line", "0"]
            with process(args, env, port=port, log=REPORT_DIR / "server.log"):
                say(f"Seeded in {time.monotonic() - started:.0f} s; schemathesis on {domain} "
                    f"(127.0.0.1:{port}) as an owner's API key")
                code = schemathesis(port, domain, key)
    finally:
        daraja.stop()
        sms.stop()
    say(f"make contract: schemathesis exited {code} after {time.monotonic() - started:.0f} s "
        f"(server log: {REPORT_DIR / 'server.log'})")
    return code


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201


def schemathesis(port: int, domain: str, key: str) -> int:
    examples = os.environ.get("CONTRACT_EXAMPLES", "25")
    seed = os.environ.get("CONTRACT_SEED", "20261206")
    args = [str(Path(PY).parent / "schemathesis"), "run", f"http://127.0.0.1:{port}/api/schema/",
            # Providers are told apart by host name: every request (the schema's too) names one.
            "--header", f"Host: {domain}", "--header", f"Authorization: Bearer {key}",
            "--checks", CHECKS, "--max-examples", examples, "--seed", seed,
            # One worker: schemathesis' threads race in CPython 3.11's compile() ("AST constructor
            # recursion depth mismatch", a runtime error of the tool, not of the API).
            "--workers", "1", "--request-timeout", "60", "--generation-database", "none",
            "--report", "junit", "--report-dir", str(REPORT_DIR)]
    return subprocess.run(args, cwd=REPORT_DIR, check=False).returncode  # noqa: S603


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MAJISMART_TESTING"))}
    env.update(
        DJANGO_SETTINGS_MODULE="majismart.settings.base",
        DEBUG="true",  # seed_demo's published passwords; the unsafe development defaults
        DATABASE_URL=database_url,
        REDIS_URL="",  # Celery tasks run eagerly in the server: nothing else to start
        LOG_LEVEL="WARNING",
        # schemathesis sends thousands of requests with one key in minutes: answers, not 429s.
        RATE_LIMIT_API="100000/m",
        **extra,
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PY, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True,  # noqa: S603
                          stdout=subprocess.PIPE, text=True)
    return done.stdout.strip()


@contextmanager
def contract_database() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        with tempfile.TemporaryDirectory(prefix="majismart-contract-") as data_dir:
            os.environ["MAJISMART_DATA_DIR"] = data_dir
            from devkit.embedded import embedded_database_url

            yield embedded_database_url()  # this process keeps the server running
        return
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'majismart'}_contract"
    server = make_conninfo("", **{k: v for k, v in conninfo_to_dict(url).items() if k != "dbname"}, dbname="postgres")

    def recreate(create: bool) -> None:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            if create:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    recreate(create=True)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        recreate(create=False)


if __name__ == "__main__":
    if shutil.which("schemathesis", path=str(Path(PY).parent)) is None:
        sys.exit("schemathesis is not installed in this virtualenv: run `make install`.")
    sys.exit(main())
