"""Periodic resync: reconcile unfinished resources even when no event comes.

Event handlers are not retried by Kopf. A reconcile that failed (a refused create, a
conflict, an API server that had not yet learnt a new kind) would otherwise wait for
the next change of the resource, which may never come. A resync every few seconds
retries it, without timers and so without a finalizer on every resource.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

Logger = logging.Logger | logging.LoggerAdapter[Any]
Resyncer = Callable[[Logger], None]

RESYNCERS: list[Resyncer] = []


def resyncer(function: Resyncer) -> Resyncer:
    """Register a function that reconciles every unfinished resource of one kind."""
    RESYNCERS.append(function)
    return function


async def resync_forever(interval: float, logger: Logger) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        for function in RESYNCERS:
            try:
                await loop.run_in_executor(None, function, logger)
            except Exception:  # one failed pass must not end the loop
                logger.exception("resync %s failed", function.__name__)
