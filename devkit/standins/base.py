"""What the local stand-ins for outside services share (standard library only): a threaded HTTP
server in a daemon thread, timers for what the service does later (callbacks, delivery
reports), and posting back to our own URLs.

``*.localhost`` names do not resolve in Python here (browsers and curl special-case them), so
for ``localhost`` and ``*.localhost`` over http a post connects to 127.0.0.1 on the URL's port
and sends the original Host header, which is what the tenant routing needs.
"""

from __future__ import annotations

import http.client
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000  # bytes a stand-in is willing to read from a request
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post(url: str, data: bytes, headers: dict[str, str], timeout: float) -> tuple[int | str, bytes]:
    """POST `data`; (HTTP status or ``"error: ..."``, the answer's bytes). Never raises."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme == "http" and (host == "localhost" or host.endswith(".localhost")):
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn = http.client.HTTPConnection("127.0.0.1", parts.port or 80, timeout=timeout)
            try:
                conn.request("POST", target, body=data, headers={**headers, "Host": parts.netloc.rpartition("@")[2]})
                response = conn.getresponse()
                return response.status, response.read()
            finally:
                conn.close()
        if parts.scheme not in ("http", "https"):
            return f"error: unsupported URL scheme {parts.scheme!r}", b""
        # The scheme is checked just above: only http(s) reaches urllib.
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:  # a non-2xx answer is still an answer
            return exc.code, exc.read()
    except Exception as exc:  # a callback failure must never kill a thread
        return f"error: {type(exc).__name__}: {exc}", b""


class Handler(BaseHTTPRequestHandler):
    """Every method goes to the stand-in's ``respond(method, path, headers, raw)``, which
    returns (status, content type, body); header names arrive in one canonical spelling."""

    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        standin = self.server.standin
        try:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        except ValueError:
            length = 0
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {standin.header_name(k): v for k, v in self.headers.items()}
        try:
            status, content_type, body = standin.respond(method, self.path, headers, raw)
        except Exception:  # never let one request take the server down
            log.exception("%s failed on %s %s", standin.name, method, self.path)
            status, content_type, body = standin.internal_error()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def version_string(self) -> str:
        return self.server.standin.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        log.info("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: StandIn


class StandIn:
    """The lifecycle: ``start()`` serves on ``base_url`` (port 0 picks a free one), ``stop()``
    ends it and drops the timers not yet due; usable as a context manager."""

    name = "stand-in"
    server_version = "StandIn/1.0"

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.base_url = f"http://{host}:{port}"
        self._lock = threading.RLock()
        self._timers: set[threading.Timer] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # What a subclass answers with.
    def respond(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, str, bytes]:
        raise NotImplementedError

    def internal_error(self) -> tuple[int, str, bytes]:
        return 500, "text/plain; charset=utf-8", b"Internal Server Error"

    def header_name(self, name: str) -> str:
        """``Content-type`` from urllib and ``content-type`` from others: ``Content-Type``."""
        return "-".join(p.capitalize() for p in name.split("-"))

    def start(self) -> Any:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), Handler)
        server.standin = self
        self._server = server
        self.port = server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}"
        # A short poll interval keeps stop() quick (shutdown waits for the loop to notice).
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"{self.name}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop what is not yet due (what is in flight still finishes)."""
        with self._lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _schedule(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        """Run `fn(*args)` after `delay` seconds in a timer thread (cancelled by stop())."""
        def run() -> None:
            try:
                fn(*args)
            except Exception:  # background work must never die loudly
                log.exception("%s background job failed", self.name)
            finally:
                with self._lock:
                    self._timers.discard(timer)

        timer = threading.Timer(max(delay, 0.0), run)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()
