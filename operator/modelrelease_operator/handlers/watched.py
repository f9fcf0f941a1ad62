"""What the operator's watches last saw: the releases, and their Deployments and Services.

An informer's cache, fed by the Kopf event handlers, so that a reconcile reads the
objects it needs from memory instead of listing them from the API server each time
(at 500 releases the lists were most of the operator's requests). Nothing here is
state: after a restart Kopf's initial listing fills it again, and a release that has no
entry yet is read from the API server, as before. A stale entry costs at most a retry:
status writes are conditional on the release's resourceVersion, applies are idempotent.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ..labels import RELEASE_LABEL

Key = tuple[str, str]
#: Fields a reconcile never reads, and the largest: dropped to keep the cache small.
_DROPPED_METADATA = ("managedFields",)


def slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """A plain copy of `body` without the fields no reconcile reads."""
    copied = {key: value for key, value in body.items()}
    metadata = {
        key: value
        for key, value in (body.get("metadata") or {}).items()
        if key not in _DROPPED_METADATA
    }
    copied["metadata"] = metadata
    return copied


def _version(body: Mapping[str, Any]) -> int | None:
    try:
        return int((body.get("metadata") or {}).get("resourceVersion") or "")
    except ValueError:
        return None


class Watched:
    """Objects of one kind, grouped by the release they belong to (namespace, release)."""

    def __init__(self, release_label: str | None) -> None:
        """`release_label`: the label naming an object's release; None for the releases
        themselves (grouped under their own name)."""
        self._label = release_label
        self._objects: dict[Key, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def _key(self, body: Mapping[str, Any]) -> tuple[Key, str] | None:
        metadata = body.get("metadata") or {}
        namespace, name = metadata.get("namespace"), metadata.get("name")
        if not namespace or not name:
            return None
        owner = name if self._label is None else (metadata.get("labels") or {}).get(self._label)
        return ((namespace, owner), name) if owner else None

    def seen(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event (None: the initial listing). An older version than the one held
        is ignored: the operator's own writes are recorded from their responses, which
        can arrive before the watch event of an earlier change."""
        found = self._key(body)
        if found is None:
            return
        key, name = found
        with self._lock:
            objects = self._objects.setdefault(key, {})
            if event_type == "DELETED":
                objects.pop(name, None)
                return
            held = objects.get(name)
            new, old = _version(body), _version(held) if held else None
            if held is not None and new is not None and old is not None and new < old:
                return
            objects[name] = slim(body)

    def written(self, body: Mapping[str, Any]) -> None:
        """The object as a write of ours returned it."""
        self.seen("MODIFIED", body)

    def drop(self, key: Key, name: str) -> None:
        """Forget an entry known to be stale (a write was refused as a conflict)."""
        with self._lock:
            self._objects.get(key, {}).pop(name, None)

    def forget(self, key: Key) -> None:
        with self._lock:
            self._objects.pop(key, None)

    def of(self, key: Key) -> list[dict[str, Any]] | None:
        """The objects of one release; None when the watch has seen none for it yet."""
        with self._lock:
            objects = self._objects.get(key)
            return None if objects is None else list(objects.values())

    def get(self, key: Key, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._objects.get(key, {}).get(name)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(objects) for objects in self._objects.values())


#: The operator's caches, one per kind it watches for releases.
RELEASES = Watched(None)
DEPLOYMENTS = Watched(RELEASE_LABEL)
SERVICES = Watched(RELEASE_LABEL)
PODS = Watched(RELEASE_LABEL)
