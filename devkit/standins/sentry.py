"""A local stand-in for Sentry's ingestion endpoint: `POST /api/<project>/envelope/`, as
sentry-sdk sends events (an envelope: a JSON header line, then items, each a JSON header line
and its payload; the body gzip- or brotli-compressed per Content-Encoding). It keeps each
envelope, decompressed, for a test to read, and answers 200 `{}` as Sentry does.

Point a DSN at it: `http://<key>@127.0.0.1:<port>/<project>`.
"""

from __future__ import annotations

import gzip
import importlib
import json
import re
import threading
import zlib
from typing import Any

from devkit.standins.base import StandIn

_ENVELOPE = re.compile(r"/api/(?P<project>\d+)/envelope/?(?:\?.*)?")


class SentryStandIn(StandIn):
    name = "sentry"
    server_version = "SentryStandIn/1.0"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.envelopes: list[bytes] = []
        self._arrived = threading.Condition()

    def dsn(self, project: int = 1, key: str = "publickey") -> str:
        return f"http://{key}@{self.host}:{self.port}/{project}"

    def respond(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, str, bytes]:
        if method != "POST" or not _ENVELOPE.fullmatch(target):
            return 404, "application/json", b'{"detail": "not found"}'
        encoding = headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        elif encoding == "br":
            # Only when the SDK found brotli installed (it prefers it to gzip then).
            raw = importlib.import_module("brotli").decompress(raw)
        with self._arrived:
            self.envelopes.append(raw)
            self._arrived.notify_all()
        return 200, "application/json", b"{}"

    def events(self) -> list[dict[str, Any]]:
        """The `event` items of every envelope received, parsed."""
        found = []
        for envelope in self.envelopes:
            lines = envelope.split(b"\n")
            for i, line in enumerate(lines[1:-1], start=1):
                try:
                    header = json.loads(line)
                except ValueError:
                    continue
                if isinstance(header, dict) and header.get("type") == "event":
                    found.append(json.loads(lines[i + 1]))
        return found

    def wait_for_envelopes(self, count: int, timeout: float = 20.0) -> list[bytes]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.envelopes) >= count, timeout)
            return list(self.envelopes)
