"""Whether a command applies to a release now, how it is sent, and when it was carried out.

Pure: each answer is a function of the release as read. The plugin sends a command the
way docs/releases.md tells a person to: the `modelrelease.dev/command` annotation, or
`spec.paused` for `pause --spec` and `resume --spec`. The operator has the last word
(it records `ignored: …` in status.lastCommand when a command no longer applies), but
refusing here first says why at once, with a non-zero exit, instead of writing a
command the operator can only ignore.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..api.release_status import ROLLING
from ..labels import COMMAND_ANNOTATION
from ..release.commands import COMMANDS

Command = Literal["promote", "promote-full", "pause", "resume", "abort", "retry", "retrain"]
Body = Mapping[str, Any]

FINISHED = frozenset({"Succeeded", "RolledBack", "Failed"})


@dataclass(frozen=True)
class Annotate:
    """Write `modelrelease.dev/command=<command>`; the operator removes it and acts."""

    command: str


@dataclass(frozen=True)
class SetPaused:
    """Set `spec.paused` (level-triggered: it holds until set back)."""

    paused: bool


@dataclass(frozen=True)
class Refused:
    reason: str


Send = Annotate | SetPaused


def plan(command: str, release: Body, *, spec: bool = False) -> Send | Refused:
    """What to send for `command`, or why it does not apply to `release` now.

    The rules are the operator's (release/commands.py), read from the same status:
    promote, promote-full, pause, resume and abort act on a rollout in progress
    (Progressing or Paused, with a candidate); retry on a RolledBack or Failed release.
    """
    name = release["metadata"]["name"]
    status: Mapping[str, Any] = release.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    if command not in COMMANDS:
        return Refused(f"unknown command {command!r} (use one of {', '.join(COMMANDS)})")
    if spec:
        return _plan_spec(command, name, release)
    waiting = (release["metadata"].get("annotations") or {}).get(COMMAND_ANNOTATION)
    if waiting:
        return Refused(
            f"{name} already has a command waiting for the operator: {waiting!r}; "
            f"remove it with `kubectl annotate mr {name} {COMMAND_ANNOTATION}-` to send another"
        )
    if command == "retrain":
        if not (release.get("spec") or {}).get("retraining"):
            return Refused(f"{name} has no spec.retraining: nothing to retrain with")
        current = ((status.get("retraining") or {}).get("current") or {}).get("name")
        if current:
            return Refused(f"{current} is still in flight: one retraining at a time")
        return Annotate(command)
    if command == "retry":
        if phase not in {"RolledBack", "Failed"}:
            return Refused(f"nothing to retry: {name} is {phase} (retry follows a rollback)")
        return Annotate(command)
    if phase not in ROLLING or not status.get("candidate"):
        return Refused(f"no rollout in progress: {name} is {phase}{_why_not(phase, status)}")
    reason = status.get("pausedReason")
    if command == "pause" and phase == "Paused":
        return Refused(f"{name} is already paused ({_paused(reason)})")
    if command == "resume":
        if phase != "Paused":
            return Refused(f"{name} is not paused (it is {phase})")
        if reason == "Spec":
            return Refused(
                f"{name} is held by spec.paused: set it to false in git, or with "
                f"`kubectl modelrelease resume --spec {name}`"
            )
    return Annotate(command)


def _plan_spec(command: str, name: str, release: Body) -> Send | Refused:
    paused = bool((release.get("spec") or {}).get("paused"))
    if command == "pause":
        return Refused(f"spec.paused of {name} is already true") if paused else SetPaused(True)
    if command == "resume":
        return SetPaused(False) if paused else Refused(f"spec.paused of {name} is not set")
    return Refused(f"--spec applies to pause and resume only, not {command}")


def _why_not(phase: str, status: Mapping[str, Any]) -> str:
    if phase == "Succeeded":
        return f" ({status.get('stableVersion') or 'the stable'} serves all traffic)"
    if phase in {"RolledBack", "Failed"}:
        return " (traffic is on the stable; `retry` tries the candidate again)"
    return " (no candidate has started yet)"


def _paused(reason: object) -> str:
    return {
        "Manual": "by a pause command; `resume` continues",
        "Spec": "by spec.paused",
        "Stage": "after a stage with pause; `promote` or `resume` continues",
        "Inconclusive": "a gate stayed inconclusive; `promote`, `resume` or `abort` decides",
        "Unavailable": "the metrics stayed unreadable; `resume`, `promote` or `abort` decides",
    }.get(str(reason), "paused")


@dataclass(frozen=True)
class Outcome:
    """What the operator made of a command: its own words, and whether it acted."""

    message: str
    done: bool


def outcome(
    sent: Send, release: Body, *, before: Mapping[str, Any] | None, generation: int
) -> Outcome | None:
    """The operator's answer to `sent`, or None while it has not acted on it yet.

    `before` is status.lastCommand as read before the command was written, `generation`
    the release's metadata.generation after a spec change. A command counts as answered
    once its annotation is gone and status.lastCommand has changed (the operator removes
    the annotation before it acts, then records what it did; comparing with what was
    there before needs no clock shared with the operator); a spec change once
    status.observedGeneration has reached it.
    """
    status: Mapping[str, Any] = release.get("status") or {}
    if isinstance(sent, SetPaused):
        if int(status.get("observedGeneration") or 0) < generation:
            return None
        phase = status.get("phase", "Pending")
        return Outcome(f"spec.paused is {str(sent.paused).lower()}; {phase}", True)
    if COMMAND_ANNOTATION in (release["metadata"].get("annotations") or {}):
        return None
    last: Mapping[str, Any] = status.get("lastCommand") or {}
    if not last or last == (before or {}):
        return None
    result = str(last.get("result", ""))
    return Outcome(result, last.get("command") == sent.command and not result.startswith("ignored"))
