"""The `prometheus` provider's queries and how their answers become snapshots.

The queries read the same cumulative series a scrape would, summed by version (and
bucket), so both providers feed the same windowing: one code path judges them all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ..api.release import CustomGate
from .observations import (
    DURATION_BUCKET,
    FEEDBACK,
    FEEDBACK_CORRECT,
    REQUESTS,
    SCORE_BUCKET,
    VersionSnapshot,
    add_sample,
    finish,
    new_accumulators,
)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


#: Characters with a meaning in Prometheus' (RE2) regular expressions.
_REGEX_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


def _regex_alternatives(values: list[str]) -> str:
    """Values as a regex that matches exactly these (Prometheus anchors it): "v1.2" must
    not match "v1x2"."""
    return "|".join(_quote(_REGEX_SPECIAL.sub(r"\\\1", v)) for v in values)


def snapshot_queries(
    model: str, versions: list[str], *, namespace: str, release: str
) -> dict[str, str]:
    """Series name → instant query that sums it by version (and le/outcome).

    Only the release's own pods: the PodMonitor gives every series the pod's `namespace`
    and a `release` label from its `modelrelease.dev/release`, so two releases of one
    model name (in two namespaces, or side by side) never add up."""
    selector = (
        f'namespace="{_quote(namespace)}",release="{_quote(release)}",'
        f'model="{_quote(model)}",version=~"{_regex_alternatives(versions)}"'
    )
    predictions = f'{selector},endpoint=~"infer|predict"'
    return {
        REQUESTS: f"sum by (version, endpoint, outcome) ({REQUESTS}{{{predictions}}})",
        DURATION_BUCKET: f"sum by (version, endpoint, le) ({DURATION_BUCKET}{{{predictions}}})",
        SCORE_BUCKET: f"sum by (version, le) ({SCORE_BUCKET}{{{selector}}})",
        FEEDBACK: f"sum by (version) ({FEEDBACK}{{{selector}}})",
        FEEDBACK_CORRECT: f"sum by (version) ({FEEDBACK_CORRECT}{{{selector}}})",
    }


def _vector(answer: Mapping[str, Any]) -> list[tuple[dict[str, str], float]]:
    """[(labels, value)] of an instant-vector answer of /api/v1/query."""
    if answer.get("status") != "success":
        raise ValueError(f"query failed: {answer.get('errorType')}: {answer.get('error')}")
    data = answer.get("data") or {}
    kind = data.get("resultType")
    if kind == "scalar":
        return [({}, float(data["result"][1]))]
    if kind != "vector":
        raise ValueError(f"expected a vector, got {kind}")
    return [(dict(item.get("metric") or {}), float(item["value"][1])) for item in data["result"]]


def snapshots_from_answers(answers: Mapping[str, Mapping[str, Any]]) -> dict[str, VersionSnapshot]:
    """Series name → query answer (JSON of /api/v1/query) into version → snapshot."""
    versions = new_accumulators()
    for name, answer in answers.items():
        for labels, value in _vector(answer):
            add_sample(versions, name, labels, value)
    return finish(versions)


def render_custom(
    gate: CustomGate,
    *,
    model: str,
    candidate: str,
    stable: str,
    namespace: str,
    release: str,
    window_seconds: float,
) -> str:
    """The gate's query with its placeholders filled in."""
    values = {
        "{{model}}": model,
        "{{candidate}}": candidate,
        "{{stable}}": stable,
        "{{namespace}}": namespace,
        "{{release}}": release,
        "{{window}}": f"{max(1, math.ceil(window_seconds))}s",
    }
    query = gate.query
    for placeholder, value in values.items():
        query = query.replace(placeholder, value)
    return query


def scalar(answer: Mapping[str, Any]) -> float | None:
    """The one number a custom gate's query returns; None when it returns nothing."""
    found = _vector(answer)
    if len(found) != 1:
        return None
    value = found[0][1]
    return None if math.isnan(value) else value
