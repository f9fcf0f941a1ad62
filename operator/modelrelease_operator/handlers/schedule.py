"""When each known release is next looked at: one loop for all releases.

Only a schedule: after a restart Kopf's initial listing fills it again, and all state is
in status. Each release is run in isolation: whatever one release raises (a bad spec, an
API error, a bug) is logged and that release alone is retried later; and due releases
run on a bounded pool of workers, so one release whose reads are slow (its Prometheus,
its pods) delays no other. A release still running when it comes due again is not
started twice.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

Key = tuple[str, str]
#: How far ahead of routine looks an urgent one is put (seconds): when the workers fall
#: behind, a release that has something to act on (a change seen, a stage ending) goes
#: before the releases that are only due for their periodic look.
URGENT = 3600.0


@dataclass(frozen=True)
class Next:
    """When a release is next looked at, and whether that look is urgent."""

    after: float
    urgent: bool = False


Logger = logging.Logger | logging.LoggerAdapter[Any]
#: Seconds until a release whose reconcile raised is looked at again.
RETRY_AFTER_ERROR = 5.0


class TickSchedule:
    """namespace/name → when it is next due (monotonic seconds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, workers: int = 0) -> None:
        """`workers` 0: run each due release in the caller's thread (tests)."""
        self._due: dict[Key, float] = {}
        self._clock = clock
        self._lock = threading.Lock()
        self._running: set[Key] = set()
        #: Woken while running: looked at again as soon as the running look ends.
        self._woken: set[Key] = set()
        self._pool = (
            ThreadPoolExecutor(workers, thread_name_prefix="release") if workers > 0 else None
        )
        #: When the last pass over the due releases ended (liveness reads it).
        self.last_pass: float | None = None

    def __contains__(self, key: Key) -> bool:
        return key in self._due

    def __len__(self) -> int:
        return len(self._due)

    def set(self, key: Key, after_seconds: float, urgent: bool = False) -> None:
        with self._lock:
            self._due[key] = self._clock() + after_seconds - (URGENT if urgent else 0.0)

    def wake(self, key: Key) -> None:
        """Look at the release as soon as a worker is free: a change was seen. Many wakes
        before the look make one look; a wake while it runs makes one more right after,
        so that the change is not missed by a look that had already read."""
        with self._lock:
            if key in self._running:
                self._woken.add(key)
            else:
                self._due[key] = min(self._due.get(key, math.inf), self._clock() - URGENT)

    def forget(self, key: Key) -> None:
        with self._lock:
            self._due.pop(key, None)
            self._woken.discard(key)

    def due(self) -> list[Key]:
        """The releases whose time has come, urgent ones first, then longest overdue first:
        when the workers fall behind, every release waits its turn instead of the first in
        the table winning."""
        now = self._clock()
        with self._lock:
            overdue = [(at, key) for key, at in self._due.items() if at <= now]
        return [key for _, key in sorted(overdue)]

    def run_due(self, reconcile: Callable[[Key], Next | float | None], logger: Logger) -> int:
        """Start `reconcile` for every due release that is not running already; it returns
        the seconds until the next look (or a Next), or None to forget the release. Returns how many
        were started."""
        started = 0
        for key in self.due():
            with self._lock:
                if key not in self._due or key in self._running:
                    continue  # deleted meanwhile, or its last look has not ended
                self._running.add(key)
            started += 1
            if self._pool is None:
                self._run_one(key, reconcile, logger)
            else:
                self._pool.submit(self._run_one, key, reconcile, logger)
        self.last_pass = self._clock()
        return started

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def _run_one(
        self, key: Key, reconcile: Callable[[Key], Next | float | None], logger: Logger
    ) -> None:
        try:
            after = reconcile(key)
        except Exception:
            logger.exception("%s/%s: reconcile failed; retrying in %ss", *key, RETRY_AFTER_ERROR)
            after = RETRY_AFTER_ERROR
        finally:
            with self._lock:
                self._running.discard(key)
                woken = key in self._woken
                self._woken.discard(key)
        if after is None and not woken:
            self.forget(key)
        elif woken:
            self.set(key, 0.0, urgent=True)
        elif key in self._due:
            wanted = after if isinstance(after, Next) else Next(cast(float, after))
            self.set(key, wanted.after, urgent=wanted.urgent)
