"""A weighted load generator: realistic /predict traffic split between model versions.

Requests go at a fixed rate to the serving process of a version drawn by the current
weights (see routing.py for why the tests, not a proxy, do the routing). The weights
are re-read every `refresh` seconds. A share of the predicted records later gets its
true label through /feedback (by its feedback id) at the same process, for the
online-accuracy series.

It is bounded twice, in requests and in time, and stops by itself at either bound, so a
failing test can never leave it running.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from .routing import Weights


def loan_records(rows: int, seed: int, shift: float = 0.0) -> list[tuple[dict[str, Any], int]]:
    """(record, true label) pairs from the loan-default population (`shift` moves it as
    `builtin:loan-default?shift=` does; 0: unshifted), as an application would send them
    (missing values as null). Assign them to a running generator's `records` to change
    the population it sends."""
    from modelrelease_trainer.loan_default import LABEL, generate

    frame = generate(rows=rows, seed=seed, shift=shift)
    labels = frame.pop(LABEL).tolist()
    out = []
    for record, label in zip(frame.to_dict(orient="records"), labels, strict=True):
        clean = {
            k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()
        }
        out.append((clean, int(label)))
    return out


@dataclass
class VersionStats:
    requests: int = 0
    ok: int = 0
    errors: int = 0
    records: int = 0
    feedback_sent: int = 0
    feedback_accepted: int = 0


@dataclass
class Stats:
    by_version: dict[str, VersionStats] = field(default_factory=dict)
    #: (wall time, weights) each time the weights read differed from the last ones.
    weight_changes: list[tuple[float, Weights]] = field(default_factory=list)
    weight_read_errors: int = 0
    idle_ticks: int = 0  # ticks with no route yet (nothing deployed)
    started: float = 0.0
    stopped: float = 0.0
    stop_reason: str = ""

    def version(self, name: str) -> VersionStats:
        return self.by_version.setdefault(name, VersionStats())

    @property
    def requests(self) -> int:
        return sum(v.requests for v in self.by_version.values())


class LoadGenerator:
    """`start()` runs it on a thread of its own; `stop()` ends it early; `stats` shows it."""

    def __init__(
        self,
        servers: Mapping[str, str],
        weights: Callable[[], Weights],
        *,
        rate: float = 30.0,
        max_seconds: float = 300.0,
        max_requests: int = 20_000,
        records_per_request: int = 4,
        feedback_share: float = 0.5,
        refresh: float = 0.5,
        concurrency: int = 16,
        seed: int = 1234,
    ) -> None:
        self.servers = dict(servers)  # version → base URL
        self.read_weights = weights
        self.rate = rate
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.records_per_request = records_per_request
        self.feedback_share = feedback_share
        self.refresh = refresh
        self.concurrency = concurrency
        self.random = random.Random(seed)
        self.records = loan_records(4000, seed)
        self.stats = Stats()
        self.weights: Weights = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending_feedback: dict[str, list[dict[str, Any]]] = {}
        self.error: BaseException | None = None

    # -- control from the (synchronous) test ----------------------------------------

    def start(self) -> LoadGenerator:
        self._thread = threading.Thread(target=self._main, name="load-generator", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> Stats:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return self.stats

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as error:  # surfaced by the test through `error`
            self.error = error

    # -- the generator ------------------------------------------------------------

    async def _run(self) -> None:
        self.stats.started = time.time()
        deadline = time.monotonic() + self.max_seconds
        limits = httpx.Limits(max_connections=self.concurrency * 2)
        async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
            refresher = asyncio.create_task(self._refresh_weights())
            flusher = asyncio.create_task(self._flush_feedback_forever(client))
            slots = asyncio.Semaphore(self.concurrency)
            inflight: set[asyncio.Task[None]] = set()
            tick = 1.0 / self.rate
            next_at = time.monotonic()
            try:
                while True:
                    if self._stop.is_set():
                        self.stats.stop_reason = "stopped"
                        break
                    if time.monotonic() > deadline:
                        self.stats.stop_reason = f"time bound ({self.max_seconds:.0f}s)"
                        break
                    if self.stats.requests >= self.max_requests:
                        self.stats.stop_reason = f"request bound ({self.max_requests})"
                        break
                    version = self._pick()
                    if version is None:
                        self.stats.idle_ticks += 1
                    else:
                        await slots.acquire()
                        task = asyncio.create_task(self._predict(client, version, slots))
                        inflight.add(task)
                        task.add_done_callback(inflight.discard)
                    next_at += tick
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                    next_at = max(next_at, time.monotonic() - tick)  # no bursts after a stall
            finally:
                if inflight:
                    await asyncio.wait(inflight, timeout=15)
                refresher.cancel()
                flusher.cancel()
                await self._flush_feedback(client)
        self.stats.stopped = time.time()

    def _pick(self) -> str | None:
        served = {v: w for v, w in self.weights.items() if v in self.servers and w > 0}
        if not served:
            return None
        versions = list(served)
        return self.random.choices(versions, weights=[served[v] for v in versions])[0]

    async def _refresh_weights(self) -> None:
        while True:
            try:
                weights = await asyncio.to_thread(self.read_weights)
            except Exception:  # an API server hiccup: keep routing as before
                self.stats.weight_read_errors += 1
            else:
                if weights != self.weights:
                    self.weights = weights
                    self.stats.weight_changes.append((time.time(), dict(weights)))
            await asyncio.sleep(self.refresh)

    async def _predict(self, client: httpx.AsyncClient, version: str, slots: Any) -> None:
        stats = self.stats.version(version)
        batch = self.random.sample(self.records, self.records_per_request)
        stats.requests += 1
        try:
            answer = await client.post(
                f"{self.servers[version]}/predict", json=[record for record, _ in batch]
            )
        except httpx.HTTPError:
            stats.errors += 1
            return
        finally:
            slots.release()
        if answer.status_code >= 400:
            stats.errors += 1
            return
        stats.ok += 1
        stats.records += len(batch)
        if self.random.random() < self.feedback_share:
            predictions = answer.json()["predictions"]
            labels = [
                {"feedback_id": p["feedback_id"], "label": label}
                for p, (_, label) in zip(predictions, batch, strict=True)
            ]
            self._pending_feedback.setdefault(version, []).extend(labels)

    async def _flush_feedback_forever(self, client: httpx.AsyncClient) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self._flush_feedback(client)

    async def _flush_feedback(self, client: httpx.AsyncClient) -> None:
        """Labels arrive later than predictions, in batches, as in real life."""
        pending, self._pending_feedback = self._pending_feedback, {}
        for version, labels in pending.items():
            stats = self.stats.version(version)
            stats.feedback_sent += len(labels)
            try:
                answer = await client.post(f"{self.servers[version]}/feedback", json=labels)
                stats.feedback_accepted += int(answer.json().get("accepted", 0))
            except (httpx.HTTPError, ValueError):
                continue
