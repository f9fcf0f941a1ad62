"""Status patches unset what the new status leaves out."""

from __future__ import annotations

from typing import Any

import pytest
from modelrelease_operator.release.patches import contains, merge_patch


def apply(document: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386, as the API server applies it."""
    out = dict(document)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = apply(out[key], value)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": 2}}),
        ({"stageStartedAt": "t", "window": {"startedAt": "t"}}, {"phase": "Progressing"}),
        ({"gates": [1, 2]}, {"gates": [3]}),
        ({}, {"a": {"b": 1}}),
        ({"a": {"b": 1}}, {"a": 5}),
    ],
)
def test_applying_the_patch_gives_the_new_document(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    assert apply(old, merge_patch(old, new)) == new


def test_unchanged_gives_an_empty_patch() -> None:
    assert merge_patch({"a": {"b": [1]}}, {"a": {"b": [1]}}) == {}


@pytest.mark.parametrize(
    ("live", "desired", "held"),
    [
        ({"spec": {"replicas": 2, "paused": False}}, {"spec": {"replicas": 2}}, True),
        ({"spec": {"replicas": 3}}, {"spec": {"replicas": 2}}, False),
        ({"spec": {}}, {"spec": {"replicas": 2}}, False),
        # A list is compared item by item: an extra or missing container is a change.
        ({"c": [{"name": "a", "x": 1}]}, {"c": [{"name": "a"}]}, True),
        ({"c": [{"name": "a"}, {"name": "b"}]}, {"c": [{"name": "a"}]}, False),
        ({"c": [{"name": "b"}]}, {"c": [{"name": "a"}]}, False),
        ({"labels": {"a": "1"}}, {"labels": {"a": "1", "b": "2"}}, False),
        ({"port": 8080}, {"port": "8080"}, False),
        ({"x": None}, {"x": None}, True),
        # Zero values come back absent (omitempty): `initialDelaySeconds: 0` is held.
        ({}, {"x": None}, True),
        ({"probe": {}}, {"probe": {"initialDelaySeconds": 0}}, True),
        ({}, {"x": False}, True),
        ({}, {"x": ""}, True),
        ({}, {"x": 1}, False),
        ({}, {"x": True}, False),
        ({}, {"x": {"y": 1}}, False),
    ],
)
def test_contains_is_what_an_apply_would_leave_unchanged(
    live: dict[str, object], desired: dict[str, object], held: bool
) -> None:
    assert contains(live, desired) is held
