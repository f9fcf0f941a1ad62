"""The operator's own periodic loops: resync of unfinished resources and release ticks.

Event handlers are not retried by Kopf. A reconcile that failed (a refused create, a
conflict, an API server that had not yet learnt a new kind) would otherwise wait for
the next change of the resource, which may never come. Loops started here retry it,
without Kopf timers or daemons and so without a finalizer on every resource (a
finalizer makes deletion hang whenever the operator is not running).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

Logger = logging.Logger | logging.LoggerAdapter[Any]
Periodic = Callable[[Logger], None]

#: (seconds between runs, or None for the operator's resync interval; the function).
PERIODIC: list[tuple[float | None, Periodic]] = []


def every(seconds: float | None = None) -> Callable[[Periodic], Periodic]:
    """Register a function for the operator to run in a thread every `seconds`."""

    def register(function: Periodic) -> Periodic:
        PERIODIC.append((seconds, function))
        return function

    return register


async def run_forever(interval: float, function: Periodic, logger: Logger) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        try:
            await loop.run_in_executor(None, function, logger)
        except Exception:  # one failed pass must not end the loop
            logger.exception("periodic %s failed", function.__name__)
