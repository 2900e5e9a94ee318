"""A circuit breaker for the Redis server this process talks to (as the cache, as the broker).

After a failure, callers skip the service for `RETRY_AFTER` seconds and take their fallback at
once (the cache: this process's memory; the broker: the outbox of unsent tasks), so an outage or
a network cut that swallows packets costs one short timeout per process, not one per request.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)

# Seconds a process leaves a failed service alone before it tries again.
RETRY_AFTER = 5.0


class Breaker:
    def __init__(self, name: str, retry_after: float = RETRY_AFTER) -> None:
        self.name = name
        self.retry_after = retry_after
        self._open_until = 0.0
        self._failing = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """True while callers should not try the service."""
        return time.monotonic() < self._open_until

    def trip(self, exc: BaseException) -> None:
        with self._lock:
            self._open_until = time.monotonic() + self.retry_after
            first, self._failing = not self._failing, True
        if first:
            log.warning("%s unreachable (%s: %s): falling back, trying again every %.0f s",
                        self.name, type(exc).__name__, str(exc)[:200], self.retry_after)

    def succeeded(self) -> None:
        """A call went through: if the service had been failing, say it is back."""
        if not self._failing:
            return
        with self._lock:
            was, self._failing = self._failing, False
            self._open_until = 0.0
        if was:
            log.warning("%s reachable again", self.name)
