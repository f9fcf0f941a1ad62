"""The stages a rollout walks through, as the spec implies them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..api.release import ModelReleaseSpec, ModelReleaseStatus, Stage
from ..api.release_status import ROLLING
from .durations import parse_duration


@dataclass(frozen=True)
class Plan:
    """The spec's stages, plus a final 100% step when the last one stops short of it.

    That implied step only moves the candidate to full size and promotes it: it is not
    judged (the stages before it were).
    """

    stages: tuple[Stage, ...]
    implied_final: bool

    @property
    def count(self) -> int:
        return len(self.stages)

    def label(self, index: int) -> str:
        """ "2/4" for index 1 of four stages; "" before the first."""
        return f"{index + 1}/{self.count}" if 0 <= index < self.count else ""

    def is_last(self, index: int) -> bool:
        return index >= self.count - 1

    def promotes_only(self, index: int) -> bool:
        return self.implied_final and index == self.count - 1


def plan(spec: ModelReleaseSpec) -> Plan:
    """Stages 10, 25, 50 → 10, 25, 50, 100 (implied); stages 20, 100 → as written."""
    stages = tuple(spec.stages)
    if stages[-1].weight >= 100:
        return Plan(stages, implied_final=False)
    final = Stage(weight=100, duration="0s", min_requests=0)
    return Plan((*stages, final), implied_final=True)


def target_weight(spec: ModelReleaseSpec, status: ModelReleaseStatus) -> int:
    """The weight the current stage moves the candidate to (its pods are sized for it)."""
    if status.candidate is None or status.phase not in ROLLING:
        return 0
    if status.promoting_fully:
        return 100
    steps = plan(spec)
    index = min(max(status.stage_index, 0), steps.count - 1)
    return steps.stages[index].weight


def seconds_to_stage_end(
    spec: ModelReleaseSpec, status: ModelReleaseStatus, now: datetime
) -> float | None:
    """Seconds until the current stage has run its duration (≤ 0: it has), or None when
    no stage is being timed (no rollout, a pause, the pods not ready yet)."""
    if status.phase != "Progressing" or status.candidate is None or status.window is None:
        return None
    steps = plan(spec)
    if not 0 <= status.stage_index < steps.count:
        return None
    started = datetime.fromisoformat(status.window.started_at)
    duration = parse_duration(steps.stages[status.stage_index].duration)
    return (duration - (now - started)).total_seconds()
