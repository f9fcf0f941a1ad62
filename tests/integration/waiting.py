"""Polling with a deadline, failing with what the operator and the cluster said."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import kubernetes
import pytest

T = TypeVar("T")

#: Generous: two slow shared cores run the whole control plane plus the operator.
TIMEOUT = 120.0


class Waiter:
    """`until(check)` polls until `check()` returns something truthy and returns it."""

    def __init__(
        self, api: kubernetes.client.ApiClient, namespace: str | None, context: Callable[[], str]
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.context = context

    def until(
        self, check: Callable[[], T], *, what: str, timeout: float = TIMEOUT, interval: float = 0.5
    ) -> T:
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            try:
                value = check()
            except kubernetes.client.ApiException as error:
                value, last = None, f"{error.status} {error.reason}: {error.body}"  # type: ignore[assignment]
            else:
                last = value
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out after {timeout:.0f}s waiting for {what}\n"
                    f"last value: {last!r}\n{self.events()}\n{self.context()}",
                    pytrace=False,
                )
            time.sleep(interval)

    def events(self, limit: int = 25) -> str:
        if not self.namespace:
            return ""
        try:
            found = kubernetes.client.CoreV1Api(self.api).list_namespaced_event(self.namespace)
        except kubernetes.client.ApiException as error:
            return f"(events unavailable: {error.reason})"
        items = sorted(found.items, key=lambda e: str(e.last_timestamp or e.event_time or ""))
        lines = [
            f"  {e.type} {e.involved_object.kind}/{e.involved_object.name} {e.reason}: {e.message}"
            for e in items[-limit:]
        ]
        return f"events in {self.namespace}:\n" + "\n".join(lines)
