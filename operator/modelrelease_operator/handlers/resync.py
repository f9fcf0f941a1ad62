"""The operator's own periodic loops: resync of unfinished resources and release ticks.

Event handlers are not retried by Kopf. A reconcile that failed (a refused create, a
conflict, an API server that had not yet learnt a new kind) would otherwise wait for
the next change of the resource, which may never come. Loops started here retry it,
without Kopf timers or daemons and so without a finalizer on every resource (a
finalizer makes deletion hang whenever the operator is not running).

Only the replica that leads runs them (leader.py): a standby's loop looks every half
second whether it leads, so it takes up the work within that once it does. Each loop
notes when it last completed a pass, led or not; /healthz fails when one falls behind
(main.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from .. import leader

Logger = logging.Logger | logging.LoggerAdapter[Any]
Periodic = Callable[[Logger], None]

#: (seconds between runs, or None for the operator's resync interval; the function).
PERIODIC: list[tuple[float | None, Periodic]] = []
#: Each periodic function's name → when its loop last completed a pass (monotonic
#: seconds; set when the loop starts).
LAST_PASS: dict[str, float] = {}
#: How often a loop that may not act (a standby's) looks whether it may.
STANDBY_POLL = 0.5


def every(seconds: float | None = None) -> Callable[[Periodic], Periodic]:
    """Register a function for the operator to run in a thread every `seconds`."""

    def register(function: Periodic) -> Periodic:
        PERIODIC.append((seconds, function))
        return function

    return register


async def run_forever(
    interval: float, function: Periodic, logger: Logger, acting: Callable[[], bool] = leader.acting
) -> None:
    """Run `function` every `interval` seconds while `acting()` (this replica leads), and
    at once when it has just begun to lead."""
    loop = asyncio.get_running_loop()
    name = function.__name__
    LAST_PASS[name] = last_run = time.monotonic()
    led = True
    while True:
        wait = last_run + interval - time.monotonic() if led else STANDBY_POLL
        await asyncio.sleep(min(max(wait, 0.0), STANDBY_POLL))
        if not acting():
            led = False
            LAST_PASS[name] = time.monotonic()
            continue
        if led and time.monotonic() < last_run + interval:
            continue
        led = True
        try:
            await loop.run_in_executor(None, function, logger)
        except Exception:  # one failed pass must not end the loop
            logger.exception("periodic %s failed", name)
        LAST_PASS[name] = last_run = time.monotonic()


def overdue(now: float, last: Mapping[str, float], limits: Mapping[str, float]) -> dict[str, float]:
    """The loops whose last completed pass is older than their limit (seconds), with
    the seconds since; a loop without a limit is never overdue."""
    return {
        name: now - at for name, at in last.items() if name in limits and now - at > limits[name]
    }
