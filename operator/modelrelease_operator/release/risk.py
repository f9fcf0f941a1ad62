"""The risk check before any traffic moves: the candidate's offline metrics against the
stable model's, each allowed to be worse by at most its margin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..api.release import RiskCheck
from ..api.training import LOWER_IS_BETTER


@dataclass(frozen=True)
class RiskVerdict:
    passed: bool
    message: str


def _number(metrics: dict[str, Any] | None, name: str) -> float | None:
    value = (metrics or {}).get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def assess(
    check: RiskCheck, candidate: dict[str, Any] | None, stable: dict[str, Any] | None
) -> RiskVerdict:
    """Compare metric by metric; unknown metrics pass unless `requireMetrics` is set.

    roc_auc 0.85 vs stable 0.87 with maxDegradation 0.01 → refused (0.02 worse);
    log_loss 0.30 vs 0.29 with maxDegradation 0.02 → allowed (lower is better).
    """
    findings: list[str] = []
    refused: list[str] = []
    for rule in check.metrics:
        new, old = _number(candidate, rule.metric), _number(stable, rule.metric)
        if new is None or old is None:
            missing = "candidate" if new is None else "stable"
            text = f"{rule.metric}: the {missing} model has no offline value"
            (refused if check.require_metrics and new is None else findings).append(text)
            continue
        worse_by = new - old if rule.metric in LOWER_IS_BETTER else old - new
        text = (
            f"{rule.metric} {new:.4g} vs stable {old:.4g} "
            f"({'worse' if worse_by > 0 else 'not worse'} by {abs(worse_by):.4g}, "
            f"allowed {rule.max_degradation:g})"
        )
        (refused if worse_by > rule.max_degradation + 1e-12 else findings).append(text)
    if refused:
        return RiskVerdict(False, "risk check failed: " + "; ".join(refused))
    return RiskVerdict(True, "risk check passed: " + ("; ".join(findings) or "nothing to compare"))
