"""Kubernetes label selectors: as the API's query string, and matched in Python."""

from __future__ import annotations

from collections.abc import Mapping

from ..api.release import LabelSelector


def selector_string(selector: LabelSelector) -> str:
    """The selector as the API's `labelSelector` query, e.g. matchLabels {team: risk} and
    {key: track, operator: NotIn, values: [canary]} → "team=risk,track notin (canary)".
    An empty selector is "" and matches every training (of the release's modelName)."""
    terms = [f"{key}={value}" for key, value in sorted(selector.match_labels.items())]
    for requirement in selector.match_expressions:
        values = ",".join(requirement.values)
        terms.append(
            {
                "In": f"{requirement.key} in ({values})",
                "NotIn": f"{requirement.key} notin ({values})",
                "Exists": requirement.key,
                "DoesNotExist": f"!{requirement.key}",
            }[requirement.operator]
        )
    return ",".join(terms)


def selects(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Whether `labels` match, by the same rules as the API server's selector."""
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    for requirement in selector.match_expressions:
        present = requirement.key in labels
        value = labels.get(requirement.key)
        matched = {
            "In": present and value in requirement.values,
            "NotIn": not present or value not in requirement.values,
            "Exists": present,
            "DoesNotExist": not present,
        }[requirement.operator]
        if not matched:
            return False
    return True
