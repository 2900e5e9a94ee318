"""The project's promises about itself: settings fail loudly, compose and CI are coherent."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml
from django.test import Client

from majismart.testing import PYTHON

ROOT = Path(__file__).resolve().parent.parent


def _settings_process(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("SECRET_KEY", "DEBUG", "MAJISMART_TESTING", "FIELD_ENCRYPTION_KEYS", "EMAIL_URL")}
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
    no_mail = _settings_process(DEBUG="false", SECRET_KEY="k" * 50, DATABASE_URL="postgres://x@127.0.0.1:1/x",
                                FIELD_ENCRYPTION_KEYS="dGVzdC1rZXktb25lLW5vdC1mb3ItcHJvZHVjdGlvbiE=")
    assert no_mail.returncode != 0 and "EMAIL_URL is not set" in no_mail.stderr
    good = _settings_process(DEBUG="false", SECRET_KEY="k" * 50, DATABASE_URL="postgres://x@127.0.0.1:1/x",
                             FIELD_ENCRYPTION_KEYS="dGVzdC1rZXktb25lLW5vdC1mb3ItcHJvZHVjdGlvbiE=",
                             BASE_DOMAIN="water.example.co.ke", EMAIL_URL="smtp://mail.example.co.ke:25")
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
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert "healthcheck" in services[name], name
    assert "gunicorn majismart.wsgi:application" in " ".join(services["web"]["command"])
    assert "worker" in services["worker"]["command"] and "beat" in services["beat"]["command"]
    for name in ("web", "worker", "beat"):
        assert services[name]["build"]["context"] == "."
        assert (ROOT / services[name]["build"].get("dockerfile", "Dockerfile")).exists()
        env = services[name]["environment"]
        assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "BASE_DOMAIN", "FIELD_ENCRYPTION_KEYS"} <= set(env)
        assert str(env["DEBUG"]).lower() == "false"
    assert set(compose["volumes"]) >= {"pgdata", "media"}
    assert (ROOT / "majismart" / "wsgi.py").exists() and (ROOT / "majismart" / "celery.py").exists()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "collectstatic" in dockerfile and "pip install" in dockerfile


def test_ci_runs_the_readmes_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)
    example = (ROOT / ".env.example").read_text()
    for name in ("DATABASE_URL", "REDIS_URL", "BASE_DOMAIN", "SECRET_KEY", "DEBUG", "EMAIL_URL", "FIELD_ENCRYPTION_KEYS"):
        assert re.search(rf"^#? ?{name}=", example, re.M), name


def test_no_migrations_are_missing() -> None:
    result = subprocess.run([PYTHON, "manage.py", "makemigrations", "--check", "--dry-run"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "majismart.settings.test"})
    assert result.returncode == 0, result.stdout + result.stderr
