"""The project's promises about itself: settings fail loudly, compose and CI are coherent."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml
from django.test import Client

from devkit.testing import PYTHON

ROOT = Path(__file__).resolve().parents[2]


def _settings_process(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("SECRET_KEY", "DEBUG", "MAJISMART_TESTING", "FIELD_ENCRYPTION_KEYS", "EMAIL_URL",
                          "BLIND_INDEX_KEY")}
    clean.update(DJANGO_SETTINGS_MODULE="majismart.settings.base", **env)
    return subprocess.run([PYTHON, "-c", "import django; django.setup(); from django.conf import settings; print(settings.ALLOWED_HOSTS)"],
                          env=clean, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_production_refuses_to_start_without_a_real_secret_key() -> None:
    missing = _settings_process(DEBUG="false", DATABASE_URL="postgres://x@127.0.0.1:1/x")
    assert missing.returncode != 0 and "SECRET_KEY is not set" in missing.stderr
    weak = _settings_process(DEBUG="false", SECRET_KEY="django-insecure-abc", DATABASE_URL="postgres://x@127.0.0.1:1/x")
    assert weak.returncode != 0 and "too weak" in weak.stderr
    no_keys = _settings_process(DEBUG="false", SECRET_KEY="k" * 50, DATABASE_URL="postgres://x@127.0.0.1:1/x")
    assert no_keys.returncode != 0 and "FIELD_ENCRYPTION_KEYS is not set" in no_keys.stderr
    no_index = _settings_process(DEBUG="false", SECRET_KEY="k" * 50, DATABASE_URL="postgres://x@127.0.0.1:1/x",
                                 FIELD_ENCRYPTION_KEYS="dGVzdC1rZXktb25lLW5vdC1mb3ItcHJvZHVjdGlvbiE=")
    assert no_index.returncode != 0 and "BLIND_INDEX_KEY is not set" in no_index.stderr
    no_mail = _settings_process(DEBUG="false", SECRET_KEY="k" * 50, DATABASE_URL="postgres://x@127.0.0.1:1/x",
                                FIELD_ENCRYPTION_KEYS="dGVzdC1rZXktb25lLW5vdC1mb3ItcHJvZHVjdGlvbiE=",
                                BLIND_INDEX_KEY="i" * 40)
    assert no_mail.returncode != 0 and "EMAIL_URL is not set" in no_mail.stderr
    good = _settings_process(DEBUG="false", SECRET_KEY="k" * 50, DATABASE_URL="postgres://x@127.0.0.1:1/x",
                             FIELD_ENCRYPTION_KEYS="dGVzdC1rZXktb25lLW5vdC1mb3ItcHJvZHVjdGlvbiE=",
                             BASE_DOMAIN="water.example.co.ke", EMAIL_URL="smtp://mail.example.co.ke:25",
                             BLIND_INDEX_KEY="i" * 40)
    assert good.returncode == 0, good.stderr
    assert "['water.example.co.ke', '.water.example.co.ke']" in good.stdout


def test_healthz_answers_for_any_host(db) -> None:  # type: ignore[no-untyped-def]
    for host in ("localhost", "10.0.0.7", "alpha.majismart.localhost"):
        response = Client(HTTP_HOST=host).get("/healthz")
        assert response.status_code == 200
        assert response.json()["checks"]["database"] == "ok"


def test_docker_compose_services_and_their_commands_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    workers = ["worker-payments", "worker-messages", "worker-documents", "worker-reports", "worker-maintenance"]
    assert {"postgres", "redis", "web", *workers, "beat"} <= set(services)
    for name in ("postgres", "redis", "web", *workers, "beat"):
        assert "healthcheck" in services[name], name
    assert "gunicorn majismart.wsgi:application" in " ".join(services["web"]["command"])
    assert all("worker" in services[name]["command"] for name in workers) and "beat" in services["beat"]["command"]
    for name in ("web", *workers, "beat"):
        assert services[name]["build"]["context"] == "."
        assert (ROOT / services[name]["build"].get("dockerfile", "Dockerfile")).exists()
        env = services[name]["environment"]
        assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "BASE_DOMAIN", "FIELD_ENCRYPTION_KEYS",
                "BLIND_INDEX_KEY", "EMAIL_URL"} <= set(env)
        assert str(env["DEBUG"]).lower() == "false"
    assert set(compose["volumes"]) >= {"pgdata", "miniodata"}
    assert (ROOT / "majismart" / "wsgi.py").exists() and (ROOT / "majismart" / "celery.py").exists()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "collectstatic" in dockerfile and "pip install" in dockerfile


def test_the_package_and_the_image_hold_every_app_and_no_development_tool() -> None:
    import tomllib

    apps = sorted(p.parent.name for p in ROOT.glob("*/apps.py"))
    assert {"tenants", "accounts", "notifications", "clients", "meters", "billing", "payments", "privacy"} <= set(apps)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packaged = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert [app for app in [*apps, "majismart"] if f"{app}*" not in packaged] == []
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert [app for app in [*apps, "majismart"] if f"COPY {app} ./{app}" not in dockerfile] == []
    # The image installs the project without the dev extra: `make run`'s embedded PostgreSQL and
    # Procfile runner, the test tools and linters are not in it.
    assert re.search(r"pip install \.\s*$", dockerfile, re.M) and ".[dev]" not in dockerfile
    production = " ".join(project["project"]["dependencies"]).lower()
    for tool in ("pgserver", "honcho", "pytest", "playwright", "ruff", "schemathesis", "valkey"):
        assert tool not in production, tool
        assert tool in " ".join(project["project"]["optional-dependencies"]["dev"]).lower(), tool
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-e \"\.\[dev\]\"", makefile)  # `make install`: the dev extra


def _production_packages() -> list[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]


def test_devkit_is_neither_packaged_nor_in_the_image() -> None:
    """devkit/ (the stand-ins, `make run`'s launcher, test helpers, the embedded servers) is for
    development: no package pattern takes it, and the image's `COPY . .` leaves it out."""
    import tomllib
    from fnmatch import fnmatch

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    development = ("devkit", "devkit.standins", "tests", "tests.majismart", "bench")
    assert [(name, p) for name in development for p in include if fnmatch(name, p)] == []
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = re.findall(r"^COPY\s+(\S+)", dockerfile, re.M)
    assert [src for src in copied if src.strip("./") in ("devkit", "tests", "bench")] == []
    ignored = {line.strip().strip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {"devkit", "tests", "bench", ".venv", ".git", ".env"} <= ignored
    # ...and none of what the image runs is ignored.
    assert ignored.isdisjoint([*_production_packages(), "manage.py", "gunicorn.conf.py", "static", "templates"])


def test_no_production_module_imports_devkit() -> None:
    """What the image holds (every production package, manage.py, gunicorn.conf.py) imports nothing
    of devkit/, at module level or inside a function, nor names a devkit module by its path."""
    import ast

    files = [path for package in _production_packages() for path in sorted((ROOT / package).rglob("*.py"))]
    files += [ROOT / "manage.py", ROOT / "gunicorn.conf.py"]
    assert len(files) > 100

    def devkit_names(tree: ast.AST) -> list[str]:
        names = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.append(node.value)  # import_module("devkit...") or a dotted path in settings
        return [n for n in names if re.fullmatch(r"devkit(\.\w+)*(:\w+)?", n)]

    found = {str(path.relative_to(ROOT)): hits for path in files
             if (hits := devkit_names(ast.parse(path.read_text(), str(path))))}
    assert found == {}


def test_ci_runs_the_readmes_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    steps = re.findall(r"^(?:step )?make (\w+)", ci, re.M)
    # Lint and types first (they fail in seconds), then the README's test command, then the contract.
    assert steps == ["lint", "typecheck", "test", "contract"], steps
    example = (ROOT / ".env.example").read_text()
    for name in ("DATABASE_URL", "REDIS_URL", "BASE_DOMAIN", "SECRET_KEY", "DEBUG", "EMAIL_URL", "FIELD_ENCRYPTION_KEYS",
                 "BLIND_INDEX_KEY"):
        assert re.search(rf"^#? ?{name}=", example, re.M), name


def test_the_layering_of_design_is_a_contract_and_holds() -> None:
    """shared/DESIGN.md's order (`tenants, accounts, notifications → clients → … → privacy`) is the
    import-linter contract, with the kernel below every app and `web` on top; `make lint` checks it."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    # Issue 19's apps: fieldwork (service requests, work orders) beside payments, independent of
    # it; arrears (plans, disconnection, reconnection) above both. Issue 20's reports read every
    # money app and sit under web alone. Issue 21's selfservice (USSD, incoming SMS) acts through
    # every app below it (payments, fieldwork, meters, privacy's consent) and is read by none.
    assert layers == ["web", "reports", "selfservice", "privacy", "arrears", "payments | fieldwork", "billing", "meters", "clients",
                      "tenants : accounts : notifications", "majismart"]
    kernel = next(c for c in contracts if c["type"] == "forbidden" and c["source_modules"] == ["majismart"])
    apps = sorted(p.parent.name for p in ROOT.glob("*/apps.py"))
    assert sorted(kernel["forbidden_modules"]) == apps
    assert "lint-imports" in (ROOT / "Makefile").read_text().split("\nlint:")[1].split("\n\n")[0]
    result = subprocess.run([str(Path(PYTHON).with_name("lint-imports")), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout, result.stdout


def test_no_migrations_are_missing() -> None:
    result = subprocess.run([PYTHON, "manage.py", "makemigrations", "--check", "--dry-run"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "majismart.settings.test"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_run_migrates_seeds_and_serves(db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The launcher behind `make run`, end to end, on a scratch database of its own."""
    import time
    import urllib.request

    import psycopg
    from django.db import connection

    from devkit.testing import free_port, process, test_database_url

    name = f"majismart_runcheck_{os.getpid()}"
    admin_url = test_database_url().rsplit("/", 1)[0] + "/postgres"
    cfg = connection.settings_dict
    conninfo = dict(host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], dbname="postgres", autocommit=True)
    with psycopg.connect(**conninfo) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MAJISMART_TESTING", "REDIS_URL"))}
    env.update(DATABASE_URL=admin_url.rsplit("/", 1)[0] + f"/{name}", PORT=str(port), DEBUG="true",
               SECRET_KEY="run-check-" + "x" * 40, DJANGO_SETTINGS_MODULE="majismart.settings.base",
               # Not 8701/8702: a `make run` of this checkout may hold them.
               DARAJA_STANDIN_PORT=str(free_port()), AFRICASTALKING_STANDIN_PORT=str(free_port()))
    log = tmp_path / "run.log"
    try:
        with process([PYTHON, "-m", "devkit.dev"], env, log=log) as proc:
            deadline = time.monotonic() + 120
            body = ""
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": f"majismart.localhost:{port}"})
                    body = urllib.request.urlopen(req, timeout=2).read().decode()
                    break
                except OSError:
                    time.sleep(0.5)
            assert "Bill every drop" in body, log.read_text()[-2000:]
            req = urllib.request.Request(f"http://127.0.0.1:{port}/accounts/login/",
                                         headers={"Host": f"mombasa-water.majismart.localhost:{port}"})
            assert "Mombasa Water Works" in urllib.request.urlopen(req, timeout=5).read().decode()
        output = log.read_text()
        assert "owner@mombasa-water.demo / maji-demo-2026" in output
        assert "No REDIS_URL: Celery tasks run eagerly" in output
        assert f"http://majismart.localhost:{port}/" in output
    finally:
        with psycopg.connect(**conninfo) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_access_log_masks_callback_tokens_and_pay_links() -> None:
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from majismart.gunicorn_logging import RedactingLogger
    from majismart.log_redaction import redact_url as redact

    assert redact("/payments/mpesa/c2b/confirmation/s3cr3tT0ken/") == "/payments/mpesa/c2b/confirmation/…/"
    assert redact("/payments/c2b/validation/s3cr3tT0ken/") == "/payments/c2b/validation/…/"
    assert redact("/payments/stk/callback/s3cr3tT0ken/") == "/payments/stk/callback/…/"
    assert redact("/pay/12-ACC1.abc.def/3/status/") == "/pay/…/3/status/"
    assert redact("/pay/c-2kq-AbCdEfGhIjKlMnOp/") == "/pay/…/"
    assert redact("/notifications/sms/delivery/s3cr3tT0ken/") == "/notifications/sms/delivery/…/"
    assert redact("/dashboard/payments/3/") == "/dashboard/payments/3/"
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/payments/mpesa/stk/callback/s3cr3tT0ken/",
               "PATH_INFO": "/payments/mpesa/stk/callback/s3cr3tT0ken/", "SERVER_PROTOCOL": "HTTP/1.1"}
    atoms = RedactingLogger(Config()).atoms(SimpleNamespace(status="200 OK", sent=10, headers=[]), SimpleNamespace(headers=[]),
                                            environ, timedelta(milliseconds=3))
    assert "s3cr3tT0ken" not in atoms["r"] + atoms["U"] and atoms["r"] == "POST /payments/mpesa/stk/callback/…/ HTTP/1.1"


def test_every_gunicorn_reads_the_projects_config() -> None:
    import runpy

    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (conf["worker_class"], conf["workers"], conf["threads"], conf["bind"]) == ("gthread", 3, 4, "0.0.0.0:8000")
    assert conf["logger_class"] == "majismart.gunicorn_logging.RedactingLogger" and conf["accesslog"] == "-"
    # Procfile, the Dockerfile and docker-compose start gunicorn in the project's directory with
    # nothing that would override it.
    web = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")][0]
    compose = " ".join(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"])
    dockerfile = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD")][0]
    for command in (web, compose, dockerfile):
        assert "gunicorn" in command and "--workers" not in command and "--logger-class" not in command, command
    assert "WORKDIR /app" in (ROOT / "Dockerfile").read_text()
