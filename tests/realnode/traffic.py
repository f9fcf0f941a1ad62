"""Predictions and feedback sent through a release's Service, as clients send them.

Every request opens a new connection: kube-proxy picks a backend pod per connection, so
the versions answering show the traffic split the Service really gives. Bounded in
requests and in time; it stops by itself at either bound.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.realmetrics.traffic import loan_records


@dataclass
class Answer:
    at: float
    version: str | None  # None: an error or no answer
    status: int


@dataclass
class ServiceTraffic:
    url: str
    rate: float = 40.0  # requests per second, all threads together
    threads: int = 8
    max_seconds: float = 900.0
    max_requests: int = 60_000
    feedback_share: float = 0.5
    answers: list[Answer] = field(default_factory=list)
    feedback: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._records = loan_records(2000, seed=21)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [
            threading.Thread(target=self._run, args=(n,), name=f"traffic-{n}", daemon=True)
            for n in range(self.threads)
        ]

    def __enter__(self) -> ServiceTraffic:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)

    def _run(self, number: int) -> None:
        pace = self.threads / self.rate
        started = time.monotonic()
        chooser = random.Random(number)
        # No keep-alive: one connection per request, so one kube-proxy choice each.
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.url, timeout=5, limits=limits) as client:
            while not self._stop.is_set() and time.monotonic() - started < self.max_seconds:
                with self._lock:
                    if len(self.answers) >= self.max_requests:
                        return
                record, label = chooser.choice(self._records)
                self._predict(client, record, label, chooser)
                self._stop.wait(pace)

    def _predict(
        self, client: httpx.Client, record: dict[str, Any], label: int, chooser: random.Random
    ) -> None:
        try:
            response = client.post("/predict", json=record)
        except httpx.HTTPError:
            self._answer(Answer(time.time(), None, 0))
            return
        version = response.json().get("version") if response.status_code == 200 else None
        self._answer(Answer(time.time(), version, response.status_code))
        if version is not None and chooser.random() < self.feedback_share:
            request_id = response.json()["predictions"][0]["request_id"]
            try:
                sent = client.post("/feedback", json={"request_id": request_id, "label": label})
                outcome = "accepted" if sent.json().get("accepted") else "unknown"
            except (httpx.HTTPError, ValueError):
                outcome = "error"
            with self._lock:
                self.feedback[outcome] += 1

    def _answer(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def between(self, start: float, end: float) -> Counter[str | None]:
        """Answers by version (None: errors) between two wall times."""
        with self._lock:
            return Counter(a.version for a in self.answers if start <= a.at < end)


def answers(url: str) -> bool:
    """Whether the Service has a ready pod behind it (traffic starts once it has)."""
    try:
        return httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
