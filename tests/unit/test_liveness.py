"""The periodic loops run only while this replica acts, note every pass (led or not),
and /healthz's probe fails when one has stopped completing passes."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import kopf
import pytest
from modelrelease_operator import main
from modelrelease_operator.handlers import resync


def test_overdue_names_each_late_loop_with_its_age() -> None:
    last = {"tick_due_releases": 100.0, "resync_trainings": 40.0, "unlimited": 0.0}
    limits = {"tick_due_releases": 120.0, "resync_trainings": 120.0}
    assert resync.overdue(200.0, last, limits) == {"resync_trainings": 160.0}
    assert resync.overdue(160.0, last, limits) == {}


def test_a_loop_acts_only_while_leading_and_starts_soon_after_it_leads() -> None:
    leads = threading.Event()
    ran: list[float] = []

    def work(logger: resync.Logger) -> None:
        ran.append(time.monotonic())

    async def scenario() -> tuple[int, float]:
        task = asyncio.create_task(
            resync.run_forever(30.0, work, logging.getLogger("test"), leads.is_set)
        )
        await asyncio.sleep(1.2)  # a standby: polls, does nothing, yet completes passes
        passes_while_standby = resync.LAST_PASS["work"]
        assert not ran
        became_leader = time.monotonic()
        leads.set()
        while not ran:
            await asyncio.sleep(0.05)
        task.cancel()
        assert passes_while_standby > became_leader - 1.0
        return len(ran), ran[0] - became_leader

    count, delay = asyncio.run(scenario())
    assert count == 1
    assert delay <= resync.STANDBY_POLL + 0.3  # not the 30 s interval


def test_the_probe_fails_when_a_loop_falls_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.monotonic()
    monkeypatch.setattr(resync, "LAST_PASS", {"tick_due_releases": now, "resync_trainings": now})
    answer = asyncio.run(main.loops_live())
    assert answer["leader"] is True  # no leader election in this process
    monkeypatch.setitem(resync.LAST_PASS, "tick_due_releases", now - 600)
    with pytest.raises(kopf.PermanentError, match="tick_due_releases 6"):
        asyncio.run(main.loops_live())
