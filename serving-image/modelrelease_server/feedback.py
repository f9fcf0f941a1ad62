"""Remember recent predictions so that ground-truth labels sent later can be judged."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import numpy as np
import numpy.typing as npt

# Record ids of a multi-record request are "<request id>.<index>".
SEPARATOR = "."


class PredictionStore:
    """Bounded by record count and age; one dict entry per request keeps the hot path cheap.

    Entries are plain (array, float) tuples: the garbage collector untracks them, so a full
    store does not make collection pauses grow with its size.
    """

    def __init__(self, capacity: int, ttl_seconds: float) -> None:
        self.capacity = capacity
        self.ttl = ttl_seconds
        self._entries: OrderedDict[str, tuple[npt.NDArray[Any], float]] = OrderedDict()
        self._labelled: dict[str, set[int]] = {}
        self._records = 0

    def remember(self, request_id: str, predicted: npt.NDArray[Any]) -> None:
        """`predicted` holds one class index (or regression value) per record."""
        now = time.monotonic()
        old = self._entries.pop(request_id, None)
        if old is not None:
            self._forget(request_id, old)
        self._entries[request_id] = (predicted, now)
        self._records += len(predicted)
        self._evict(now)

    def _forget(self, request_id: str, entry: tuple[npt.NDArray[Any], float]) -> None:
        self._records -= len(entry[0])
        self._labelled.pop(request_id, None)

    def _evict(self, now: float) -> None:
        entries = self._entries
        while entries:
            oldest = next(iter(entries.values()))
            if self._records <= self.capacity and now - oldest[1] <= self.ttl:
                return
            request_id, gone = entries.popitem(last=False)
            self._forget(request_id, gone)

    def take(self, record_id: str) -> np.generic:
        """The prediction for `record_id`, once; raises KeyError if unknown or taken."""
        self._evict(time.monotonic())
        entries = self._entries
        request_id, index = record_id, 0
        entry = entries.get(record_id)
        if entry is None or len(entry[0]) != 1:
            request_id, _, suffix = record_id.rpartition(SEPARATOR)
            entry = entries.get(request_id)
            if entry is None or not suffix.isdigit() or int(suffix) >= len(entry[0]):
                raise KeyError(record_id)
            index = int(suffix)
        labelled = self._labelled.setdefault(request_id, set())
        if index in labelled:
            raise KeyError(record_id)
        labelled.add(index)
        value: np.generic = entry[0][index]
        return value


def record_ids(request_id: str, count: int) -> list[str]:
    """The feedback ids of a request's records: the request id itself for one record."""
    if count == 1:
        return [request_id]
    return [f"{request_id}{SEPARATOR}{i}" for i in range(count)]


def matches(label: Any, predicted: Any, *, regression: bool, tolerance: float) -> bool:
    if regression:
        try:
            return abs(float(label) - float(predicted)) <= tolerance
        except (TypeError, ValueError, OverflowError):
            return False
    if isinstance(label, bool):
        label = int(label)
    return bool(label == predicted or str(label) == str(predicted))
