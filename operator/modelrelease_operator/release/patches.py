"""The JSON merge patch (RFC 7386) that turns one status into another.

Status is written without its unset fields; a merge patch of that alone would leave
the old values of fields that became unset (a stage's start time, a window) in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """{"a": 1, "b": {"c": 2, "d": 3}} → {"b": {"c": 2}} gives {"a": None, "b": {"d": None}}."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            nested = merge_patch(before, value)
            if nested:
                patch[key] = nested
        elif value != before:
            patch[key] = value
    return patch


def contains(live: Any, desired: Any) -> bool:
    """Whether `live` already holds every field `desired` sets, with the same value:
    what a server-side apply of `desired` would leave unchanged. Fields only `live` has
    (defaults, status, other managers' fields) do not count; lists must match item by
    item.

    {"spec": {"replicas": 2, "paused": False}} contains {"spec": {"replicas": 2}}. The API
    server leaves zero values out of what it returns (`initialDelaySeconds: 0`), so a
    field `live` lacks matches a zero value.
    """
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(
            contains(live[key], value) if key in live else _omitted(value)
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(have, want) for have, want in zip(live, desired, strict=True))
        )
    return bool(live == desired)


def _omitted(value: Any) -> bool:
    """A value the API server returns as absent (Go's omitempty)."""
    if isinstance(value, bool):
        return not value
    return value is None or value in (0, "", [], {})
