"""Manual control: promote, promote-full, pause, resume, abort, retry, retrain.

A command arrives as the `modelrelease.dev/command` annotation; the handler removes the
annotation before acting (so a command is acted on at most once) and `decide` records
what it did in `status.lastCommand`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api.release import LastCommand
from ..api.release_status import ROLLING
from ..event import Event
from ..labels import COMMAND_ANNOTATION
from . import retraining
from .transitions import Step


def wants_a_look(body: Mapping[str, Any]) -> bool:
    """Whether a release's watch event asks for a look now rather than at its next tick:
    a spec the operator has not acted on, a command, a deletion. Not the events of its
    own status writes, which are most of them."""
    metadata = body.get("metadata") or {}
    observed = (body.get("status") or {}).get("observedGeneration")
    return bool(
        metadata.get("generation") != observed
        or (metadata.get("annotations") or {}).get(COMMAND_ANNOTATION)
        or metadata.get("deletionTimestamp")
    )


COMMANDS = ("promote", "promote-full", "pause", "resume", "abort", "retry", "retrain")


def apply(step: Step, command: str, release: str = "") -> None:
    """Carry out one command, or record why it does not apply now."""
    status = step.status
    rolling = status.phase in ROLLING and status.candidate is not None
    word = command.strip().lower()
    if word == "retrain":
        result = retraining.request(step, release)
    else:
        result = _carry_out(step, word, rolling)
    status.last_command = LastCommand(command=command, time=step.stamp, result=result)
    if not step.moved:
        step.events.append(Event("Warning", "CommandIgnored", f"{command}: {result}"))


def _carry_out(step: Step, command: str, rolling: bool) -> str:
    status = step.status
    steps = step.plan
    if command not in COMMANDS:
        return f"ignored: unknown command (use one of {', '.join(COMMANDS)})"
    if command == "retry":
        if status.phase not in {"RolledBack", "Failed"}:
            return f"ignored: nothing to retry while {status.phase}"
        status.rejected_digest = None
        step.move("retry", "Pending", "Retry", "retrying the candidate on request")
        return "retrying"
    if not rolling:
        return f"ignored: no rollout in progress ({status.phase})"
    if command == "pause":
        if status.phase == "Paused":
            return "ignored: already paused"
        step.pause("Manual", f"paused on request at stage {steps.label(status.stage_index)}")
        return "paused"
    if command == "resume":
        if status.phase != "Paused":
            return "ignored: not paused"
        if status.paused_reason == "Spec":
            return "ignored: spec.paused is true; set it to false to resume"
        if status.paused_reason == "Stage":
            advance(step, "Promoted", "promoted on request")
            return "resumed: next stage"
        step.resume(f"resumed on request at stage {steps.label(status.stage_index)}")
        return "resumed"
    if command == "promote":
        advance(step, "Promoted", "promoted on request")
        return "promoted to the next stage"
    if command == "promote-full":
        status.promoting_fully = True
        step.enter_stage(
            steps.count - 1, "PromotedFully", "promoted fully on request: skipping the analysis"
        )
        return "promoting fully"
    # abort
    step.roll_back("Aborted", "aborted on request: all traffic back on stable")
    return "aborted"


def advance(step: Step, reason: str, why: str) -> None:
    """To the next stage; from the last one, promotion."""
    status = step.status
    steps = step.plan
    if steps.is_last(status.stage_index):
        if status.candidate_weight >= 100:
            step.succeed()
            return
        # The last stage's pods may not be ready yet: promote once they are.
        status.promoting_fully = True
        step.enter_stage(status.stage_index, reason, f"{why}: promoting once ready")
        return
    index = status.stage_index + 1
    weight = steps.stages[index].weight
    step.enter_stage(index, reason, f"{why}: stage {steps.label(index)} ({weight}%)")
