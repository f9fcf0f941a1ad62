"""Judge ground-truth labels sent after a prediction.

Two ways to find the prediction a label is for: a feedback id (`FeedbackTokens`), a
token carrying the prediction itself, which any worker of any pod of the release can
judge; or a record id, looked up in the process-local `PredictionStore` (only the process
that made the prediction knows it).
"""

from __future__ import annotations

import base64
import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

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


# -- stateless feedback tokens ------------------------------------------------------------

#: Format of the token's payload; a token of another format is unknown.
TOKEN_FORMAT = 1
#: Bytes of the HMAC-SHA256 kept in a token (128 bits).
MAC_BYTES = 16
#: How far in the future (by this process's clock) an issue time may lie: pods' clocks differ.
CLOCK_SKEW_SECONDS = 300
_MAC_CONTEXT = b"modelrelease-feedback\x00"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """The bytes of an unpadded base64url text, which must be their one canonical form:
    the decoder ignores a last character's unused bits, so without this check several
    spellings of one token would all be accepted."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not canonical base64url")
    return data


@dataclass(frozen=True)
class Issued:
    """What a valid token says: who served the prediction, when, and what it predicted."""

    model: str
    version: str
    issued_at: int  # unix seconds
    regression: bool
    predicted: Any  # the class label value (model card `classes`), or the regression value


class FeedbackTokens:
    """Issues and checks feedback ids: a prediction's model, version, issue time and
    predicted value, in the token itself, under an HMAC-SHA256 with the release's key.

    `<base64url(JSON payload)>.<base64url(first 16 bytes of the MAC)>`: any worker of
    any pod holding the same key judges a label against it, without shared state. With
    an empty key the MAC still detects garbled tokens, but anyone can make one.
    """

    def __init__(self, key: bytes, model: str, version: str, classes: tuple[Any, ...]) -> None:
        self._key = key
        self.model = model
        self.version = version
        self._classes = classes
        self._second = -1
        self._class_tokens: list[str] = []

    def _mac(self, payload: bytes) -> bytes:
        return hmac.digest(self._key, _MAC_CONTEXT + payload, "sha256")[:MAC_BYTES]

    def _token(self, issued_at: int, regression: bool, value: Any) -> str:
        kind = "r" if regression else "c"
        payload = orjson.dumps([TOKEN_FORMAT, self.model, self.version, issued_at, kind, value])
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def issue(self, class_index: npt.NDArray[Any] | None, values: npt.NDArray[Any]) -> list[str]:
        """One token per record: classifiers by predicted class index, regression by value.

        A classifier's tokens depend only on the second and the class, so they are made
        once per second and class, and cost a list lookup per record."""
        now = int(time.time())
        if class_index is None:
            return [self._token(now, True, value) for value in values.tolist()]
        if now != self._second:
            self._class_tokens = [self._token(now, False, c) for c in self._classes]
            self._second = now
        tokens = self._class_tokens
        return [tokens[i] for i in class_index.tolist()]

    def check(self, token: Any, ttl_seconds: float) -> Issued | None:
        """The token's content if it is one this release issued, for this model, within
        `ttl_seconds`; None for anything else (garbled, forged, expired, malformed)."""
        if not isinstance(token, str) or len(token) > 2048:
            return None
        encoded, dot, mac = token.partition(".")
        if not dot:
            return None
        try:
            payload = _unb64(encoded)
            if not hmac.compare_digest(_unb64(mac), self._mac(payload)):
                return None
            found = orjson.loads(payload)
        except (ValueError, TypeError):  # binascii.Error and orjson's errors are ValueErrors
            return None
        if not isinstance(found, list) or len(found) != 6 or found[0] != TOKEN_FORMAT:
            return None
        _, model, version, issued_at, kind, value = found
        if model != self.model or not isinstance(version, str) or kind not in ("c", "r"):
            return None
        if not isinstance(issued_at, int) or isinstance(issued_at, bool):
            return None
        age = time.time() - issued_at
        if age > ttl_seconds or age < -CLOCK_SKEW_SECONDS:
            return None
        if isinstance(value, dict | list):
            return None
        return Issued(model, version, issued_at, kind == "r", value)
