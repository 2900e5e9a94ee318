"""`make bench`: runs every bench/*.py (or those named) in one process against a scratch database
(`<DATABASE_URL's name>_bench`, or the embedded server's) and prints their figures, then one
table of every figure that has a target (a bench yields a _verdict.Verdict for it): measured,
target, pass or not. Each benchmark reports a ratio against a baseline measured in the same run."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def scratch_database() -> None:
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "majismart.settings.base")
    if not os.environ.get("DATABASE_URL"):
        from devkit.embedded import embedded_database_url

        os.environ["DATABASE_URL"] = embedded_database_url()
    url = urlsplit(os.environ["DATABASE_URL"])
    bench_name = url.path.lstrip("/") + "_bench"
    import environ
    import psycopg

    cfg = environ.Env.db_url_config(urlunsplit(url._replace(path="/postgres")))
    from urllib.parse import unquote

    with psycopg.connect(host=unquote(cfg["HOST"]), port=cfg["PORT"] or 5432, user=cfg["USER"],
                         password=cfg["PASSWORD"] or None, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{bench_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{bench_name}"')
    os.environ["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{bench_name}"))


def load(name: str) -> ModuleType:
    """bench/<name>.py as module `bench_<name>`: a bench may share its name with an app
    (bench/reports.py, the reports app), and the app must stay importable as itself."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None, name
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    scratch_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate_schemas", verbosity=0)
    from _verdict import Verdict, table

    names = sys.argv[1:] or sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem != "run" and p.stem[0] != "_")
    verdicts: list[tuple[str, Verdict]] = []
    for name in names:
        module = load(name)
        print(f"== {name}: {module.__doc__.strip().splitlines()[0]}", flush=True)
        for line in module.run():
            print("  " + str(line), flush=True)
            if isinstance(line, Verdict):
                verdicts.append((name, line))
    print("== summary: each benchmark's figures against their targets")
    for line in table(verdicts):
        print("  " + line)


if __name__ == "__main__":
    main()
