"""The moves a release can make, each recorded in status with its history entry and Event.

`Step` wraps the status being built by one `decide` call. Every move writes the whole
of its effect into status (weights, which model is where), so that the objects in the
cluster can always be rebuilt from status alone, and a restarted operator neither
repeats a move nor forgets one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..api.common import utc_timestamp
from ..api.release import (
    GateStatus,
    HistoryEntry,
    ModelRef,
    ModelReleaseSpec,
    ModelReleaseStatus,
    PauseReason,
    ReleasePhase,
)
from ..event import Event, EventType
from .stages import Plan, plan


@dataclass
class Step:
    """One decision in the making: the new status, and what was done to get it."""

    spec: ModelReleaseSpec
    status: ModelReleaseStatus
    now: datetime
    events: list[Event] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)

    @property
    def plan(self) -> Plan:
        return plan(self.spec)

    @property
    def moved(self) -> bool:
        """True once a transition was made (one per decision)."""
        return bool(self.actions)

    @property
    def stamp(self) -> str:
        return utc_timestamp(self.now)

    def note(self, message: str) -> None:
        """Say where things stand without moving (no history entry, no Event)."""
        self.status.message = message

    def move(
        self,
        action: str,
        phase: ReleasePhase,
        reason: str,
        message: str,
        event: EventType = "Normal",
    ) -> None:
        status = self.status
        status.phase, status.message = phase, message
        self.actions.append(action)
        self.events.append(Event(event, reason, message))
        status.history.append(
            HistoryEntry(
                time=self.stamp,
                phase=phase,
                stage=self.plan.label(status.stage_index),
                weight=status.candidate_weight,
                reason=reason,
                message=message[:500],
            )
        )
        del status.history[: -self.spec.history_limit]

    # -- moves ------------------------------------------------------------------------

    def start(self, candidate: ModelRef, replacing: bool) -> None:
        status = self.status
        status.candidate = candidate
        status.stage_index = 0
        status.candidate_weight = 0
        status.deployed_at = self.stamp
        status.stage_entered_at = self.stamp
        status.stage_started_at = None
        status.window = None
        status.last_check_at = None
        status.failed_checks = 0
        status.gates = []
        status.failed_gate = None
        status.paused_reason = None
        status.promoting_fully = False
        status.rejected_digest = None
        first = self.plan.stages[0].weight
        verb = "replaces the previous candidate" if replacing else "starts"
        self.move(
            "replace" if replacing else "start",
            "Progressing",
            "CandidateReplaced" if replacing else "RolloutStarted",
            f"candidate {candidate.version} {verb}: deploying it for stage "
            f"{self.plan.label(0)} ({first}%)",
        )

    def apply_weight(self, weight: int) -> None:
        status = self.status
        status.candidate_weight = weight
        status.stage_started_at = self.stamp
        status.window = None
        self.move(
            "weight",
            status.phase,
            "WeightSet",
            f"stage {self.plan.label(status.stage_index)}: {weight}% of traffic on candidate "
            f"{status.candidate.version if status.candidate else '?'}",
        )

    def enter_stage(self, index: int, reason: str, message: str) -> None:
        status = self.status
        status.stage_index = index
        status.stage_entered_at = self.stamp
        status.stage_started_at = None
        status.window = None
        status.paused_reason = None
        self.move("advance", "Progressing", reason, message)

    def pause(self, reason: PauseReason, message: str) -> None:
        self.status.paused_reason = reason
        self.move("pause", "Paused", f"Paused{reason}", message)

    def resume(self, message: str) -> None:
        self.status.paused_reason = None
        self.move("resume", "Progressing", "Resumed", message)

    def succeed(self) -> None:
        status = self.status
        candidate, stable = status.candidate, status.stable
        assert candidate is not None and stable is not None
        status.previous = stable
        status.stable = candidate
        # Monitoring starts over on the new stable: its windows and verdicts were the old one's.
        status.monitoring = None
        self._clear_rollout()
        self.move(
            "promote",
            "Succeeded",
            "Promoted",
            f"{candidate.version} is the stable version; {stable.version} is scaled down and "
            "kept for one rollback",
        )

    def roll_back(self, reason: str, message: str, gate: GateStatus | None = None) -> None:
        """All traffic back on stable; the candidate scaled to zero and not retried."""
        self._take_candidate_out(gate)
        self.move("rollback", "RolledBack", reason, message, "Warning")

    def fail(self, reason: str, message: str) -> None:
        """Cannot proceed: like a rollback for traffic, but not the candidate's verdict."""
        self._take_candidate_out(None)
        self.move("fail", "Failed", reason, message, "Warning")

    def _take_candidate_out(self, gate: GateStatus | None) -> None:
        status = self.status
        status.candidate_weight = 0
        status.rejected_digest = status.candidate.digest if status.candidate else None
        status.failed_gate = gate
        status.paused_reason = None
        status.promoting_fully = False
        status.window = None

    def _clear_rollout(self) -> None:
        status = self.status
        status.candidate = None
        status.candidate_weight = 0
        status.deployed_at = None
        status.stage_entered_at = None
        status.stage_started_at = None
        status.window = None
        status.paused_reason = None
        status.promoting_fully = False
        status.failed_gate = None

    def drop_candidate(self) -> None:
        """Forget the candidate (it is being replaced or was withdrawn)."""
        self._clear_rollout()
        self.status.stage_index = -1
