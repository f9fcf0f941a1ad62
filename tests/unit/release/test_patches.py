"""Status patches unset what the new status leaves out."""

from __future__ import annotations

from typing import Any

import pytest
from modelrelease_operator.release.patches import merge_patch


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
