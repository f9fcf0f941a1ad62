"""Which commands the plugin sends, refuses, and when the operator has answered."""

from __future__ import annotations

from typing import Any

import pytest
from modelrelease_operator.cli.commands import (
    Annotate,
    Outcome,
    Refused,
    SetPaused,
    outcome,
    plan,
)
from modelrelease_operator.release.commands import COMMANDS

from tests.unit.release.builders import Simulation, make_spec, steady

from .releases import V1, V2, release, rolling

PENDING = {"phase": "Pending", "stageIndex": -1}
PROGRESSING = rolling()
PAUSED_MANUAL = rolling(phase="Paused", pausedReason="Manual")
PAUSED_SPEC = rolling(phase="Paused", pausedReason="Spec")
PAUSED_STAGE = rolling(phase="Paused", pausedReason="Stage")
SUCCEEDED = {"phase": "Succeeded", "stable": V2, "stableVersion": "v2", "previous": V1}
ROLLED_BACK = rolling(phase="RolledBack", candidateWeight=0)
FAILED = {"phase": "Failed", "stable": V1, "candidate": V2}


@pytest.mark.parametrize(
    ("status", "command", "expected"),
    [
        # promote, promote-full, abort: a rollout in progress.
        pytest.param(PROGRESSING, "promote", Annotate("promote"), id="promote-progressing"),
        pytest.param(PAUSED_STAGE, "promote", Annotate("promote"), id="promote-paused-stage"),
        pytest.param(
            SUCCEEDED,
            "promote",
            "no rollout in progress: loan-default is Succeeded (v2 serves all traffic)",
            id="promote-succeeded",
        ),
        pytest.param(
            None, "promote", "no rollout in progress: loan-default is Pending", id="promote-new"
        ),
        pytest.param(
            PENDING,
            "promote-full",
            "no rollout in progress: loan-default is Pending (no candidate has started yet)",
            id="promote-full-pending",
        ),
        pytest.param(PAUSED_MANUAL, "promote-full", Annotate("promote-full"), id="promote-full"),
        pytest.param(PROGRESSING, "abort", Annotate("abort"), id="abort-progressing"),
        pytest.param(PAUSED_SPEC, "abort", Annotate("abort"), id="abort-paused"),
        pytest.param(
            ROLLED_BACK,
            "abort",
            "no rollout in progress: loan-default is RolledBack (traffic is on the stable; "
            "`retry` tries the candidate again)",
            id="abort-rolled-back",
        ),
        pytest.param(SUCCEEDED, "abort", "is Succeeded", id="abort-succeeded"),
        pytest.param(
            {"phase": "Progressing"}, "abort", "no rollout in progress", id="abort-no-candidate"
        ),
        # pause and resume.
        pytest.param(PROGRESSING, "pause", Annotate("pause"), id="pause-progressing"),
        pytest.param(
            PAUSED_STAGE,
            "pause",
            "loan-default is already paused (after a stage with pause; "
            "`promote` or `resume` continues)",
            id="pause-paused",
        ),
        pytest.param(FAILED, "pause", "no rollout in progress", id="pause-failed"),
        pytest.param(PAUSED_MANUAL, "resume", Annotate("resume"), id="resume-manual"),
        pytest.param(PAUSED_STAGE, "resume", Annotate("resume"), id="resume-stage"),
        pytest.param(
            rolling(phase="Paused", pausedReason="Inconclusive"),
            "resume",
            Annotate("resume"),
            id="resume-inconclusive",
        ),
        pytest.param(
            PROGRESSING,
            "resume",
            "loan-default is not paused (it is Progressing)",
            id="resume-progressing",
        ),
        pytest.param(
            PAUSED_SPEC,
            "resume",
            "loan-default is held by spec.paused: set it to false in git, or with "
            "`kubectl modelrelease resume --spec loan-default`",
            id="resume-held-by-spec",
        ),
        pytest.param(SUCCEEDED, "resume", "no rollout in progress", id="resume-succeeded"),
        # retry: after a rollback or a failure.
        pytest.param(ROLLED_BACK, "retry", Annotate("retry"), id="retry-rolled-back"),
        pytest.param(FAILED, "retry", Annotate("retry"), id="retry-failed"),
        pytest.param(
            PROGRESSING,
            "retry",
            "nothing to retry: loan-default is Progressing (retry follows a rollback)",
            id="retry-progressing",
        ),
        pytest.param(SUCCEEDED, "retry", "nothing to retry", id="retry-succeeded"),
        pytest.param(PROGRESSING, "rollback", "unknown command 'rollback'", id="unknown"),
    ],
)
def test_a_command_is_sent_only_where_it_applies(
    status: dict[str, Any] | None, command: str, expected: Annotate | str
) -> None:
    got = plan(command, release(status))
    if isinstance(expected, str):
        assert isinstance(got, Refused), got
        assert expected in got.reason
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("status", "paused", "command", "expected"),
    [
        pytest.param(PROGRESSING, False, "pause", SetPaused(True), id="pause"),
        pytest.param(SUCCEEDED, False, "pause", SetPaused(True), id="pause-holds-the-next"),
        pytest.param(PAUSED_SPEC, True, "pause", "already true", id="pause-again"),
        pytest.param(PAUSED_SPEC, True, "resume", SetPaused(False), id="resume"),
        pytest.param(PAUSED_MANUAL, False, "resume", "is not set", id="resume-not-set"),
        pytest.param(PROGRESSING, False, "abort", "pause and resume only", id="abort"),
    ],
)
def test_spec_paused_is_set_only_when_it_changes(
    status: dict[str, Any], paused: bool, command: str, expected: SetPaused | str
) -> None:
    got = plan(command, release(status, paused=paused), spec=True)
    if isinstance(expected, str):
        assert isinstance(got, Refused), got
        assert expected in got.reason
    else:
        assert got == expected


def test_a_command_still_waiting_for_the_operator_is_not_overwritten() -> None:
    body = release(PROGRESSING)
    body["metadata"]["annotations"] = {"modelrelease.dev/command": "pause"}
    got = plan("abort", body)
    assert isinstance(got, Refused)
    assert "already has a command waiting for the operator: 'pause'" in got.reason
    assert "kubectl annotate mr loan-default modelrelease.dev/command-" in got.reason


@pytest.mark.parametrize("command", COMMANDS)
def test_the_plugin_refuses_exactly_what_the_operator_would_ignore(command: str) -> None:
    """Every status the operator's state machine goes through in a rollout with a pause,
    a stage pause, a rollback and a retry: the plugin sends `command` there exactly when
    the operator, given it, would act rather than record `ignored: …`."""
    stages = [
        {"weight": 10, "duration": "1m", "minRequests": 100},
        {"weight": 50, "duration": "1m", "minRequests": 100, "pause": True},
        {"weight": 100, "duration": "1m", "minRequests": 100},
    ]
    spec = make_spec(stages=stages)
    sim = Simulation(spec, steady())
    script = [None] * 8 + ["pause", None, "resume"] + [None] * 10 + ["abort", "retry"]
    script += [None] * 6
    checked = 0
    for given in script:
        body = release(sim.status.to_wire())
        planned = plan(command, body)
        trial = Simulation(spec, sim.status.model_copy(deep=True), now=sim.now)
        trial.tick(seconds=1, command=command)
        last = trial.status.last_command
        assert last is not None
        acted = not last.result.startswith("ignored")
        assert isinstance(planned, Annotate) == acted, (sim.status.phase, planned, last.result)
        checked += 1
        sim.tick(command=given)
    assert checked == len(script)
    phases = {entry.phase for entry in sim.status.history}
    assert {"Progressing", "Paused", "RolledBack", "Pending"} <= phases


def test_spec_paused_pauses_the_simulated_rollout_and_resume_is_refused() -> None:
    sim = Simulation(make_spec(), steady())
    for _ in range(4):
        sim.tick()
    sim.spec = make_spec(paused=True)
    sim.tick()
    assert (sim.status.phase, sim.status.paused_reason) == ("Paused", "Spec")
    assert isinstance(plan("resume", release(sim.status.to_wire())), Refused)
    body = release(sim.status.to_wire(), paused=True)
    assert plan("resume", body, spec=True) == SetPaused(False)


# -- the operator's answer ------------------------------------------------------------

BEFORE = {"command": "pause", "time": "2026-11-23T10:05:00Z", "result": "paused"}


def answered(last: dict[str, Any] | None, *, pending: bool = False, **status: Any) -> Any:
    body = release(rolling(lastCommand=last, **status))
    if pending:
        body["metadata"]["annotations"] = {"modelrelease.dev/command": "promote"}
    return body


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(answered(BEFORE, pending=True), None, id="annotation-still-there"),
        pytest.param(answered(BEFORE), None, id="removed-not-yet-recorded"),
        pytest.param(answered(None), None, id="nothing-recorded"),
        pytest.param(
            answered({"command": "promote", "time": "2026-11-23T10:12:00Z", "result": "promoted"}),
            Outcome("promoted", True),
            id="carried-out",
        ),
        pytest.param(
            answered(
                {
                    "command": "promote",
                    "time": "2026-11-23T10:12:00Z",
                    "result": "ignored: no rollout in progress (RolledBack)",
                }
            ),
            Outcome("ignored: no rollout in progress (RolledBack)", False),
            id="ignored",
        ),
        pytest.param(
            answered({"command": "abort", "time": "2026-11-23T10:12:00Z", "result": "aborted"}),
            Outcome("aborted", False),
            id="another-command-won",
        ),
    ],
)
def test_a_command_is_answered_once_the_operator_recorded_it(
    body: dict[str, Any], expected: Outcome | None
) -> None:
    assert outcome(Annotate("promote"), body, before=BEFORE, generation=0) == expected


def test_a_spec_change_is_answered_once_its_generation_is_observed() -> None:
    body = release(rolling(observedGeneration=2, phase="Paused", pausedReason="Spec"))
    assert outcome(SetPaused(True), body, before=None, generation=3) is None
    body["status"]["observedGeneration"] = 3
    assert outcome(SetPaused(True), body, before=None, generation=3) == Outcome(
        "spec.paused is true; Paused", True
    )
