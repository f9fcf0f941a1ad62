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
