"""A stage judged without its metrics or with a crashing candidate: never a pass, and
never held for ever."""

from __future__ import annotations

from typing import Any

from .builders import Simulation, make_spec, steady


def rolling(**spec: Any) -> Simulation:
    """A rollout at its first stage, its judgement window open."""
    sim = Simulation(make_spec(**spec), steady())
    while sim.status.window is None:
        sim.tick()
    assert sim.status.phase == "Progressing" and sim.status.candidate_weight == 10
    return sim


def test_a_candidate_that_restarts_fails_a_check_at_once() -> None:
    sim = rolling()
    sim.candidate_restarts = 0
    sim.tick()
    sim.candidate_restarts = 2
    sim.tick()
    assert sim.status.phase == "RolledBack"
    gate = sim.status.failed_gate
    assert gate is not None and gate.name == "restarts" and gate.value == 2
    assert "restarted 2 time(s)" in gate.message


def test_restarts_count_against_the_failure_limit_once_each() -> None:
    long = [{"weight": w, "duration": "10m", "minRequests": 100} for w in (10, 50, 100)]
    sim = rolling(analysis={"interval": "15s", "failureLimit": 3}, stages=long)
    sim.candidate_restarts = 0
    sim.tick()
    for restarts in (1, 1, 1, 2):
        sim.candidate_restarts = restarts
        sim.tick()
    assert sim.status.phase == "Progressing" and sim.status.failed_checks == 2
    sim.candidate_restarts = 3
    sim.tick()
    assert sim.status.phase == "RolledBack"


def test_pods_that_stop_being_ready_mid_stage_roll_back_after_the_deadline() -> None:
    sim = rolling(readinessDeadline="1m")
    sim.candidate_ready = False
    sim.run(4)  # a minute
    assert sim.status.phase == "Progressing"
    assert sim.status.candidate_unready_since is not None
    sim.run(2)
    assert sim.status.phase == "RolledBack"
    assert sim.status.history[-1].reason == "CandidateUnavailable"


def test_ready_again_in_time_clears_the_clock() -> None:
    sim = rolling(readinessDeadline="1m")
    sim.candidate_ready = False
    sim.run(3)
    sim.candidate_ready = True
    sim.tick()
    assert sim.status.candidate_unready_since is None
    sim.candidate_ready = False
    sim.run(3)
    assert sim.status.phase == "Progressing"


def test_missing_metrics_never_promote_and_pause_after_the_limit() -> None:
    sim = rolling(analysis={"interval": "15s", "unavailableLimit": 5})
    sim.metrics_error = "prometheus: connection refused"
    sim.run(4)
    assert sim.status.phase == "Progressing" and sim.status.stage == "1/4"
    assert sim.status.unavailable_checks == 4
    assert "metrics unavailable (4/5): prometheus: connection refused" in sim.status.message
    sim.tick()
    assert sim.status.phase == "Paused" and sim.status.paused_reason == "Unavailable"
    assert "metrics unavailable for 5 checks" in sim.status.history[-1].message
    # Back, then resumed by hand: the count starts again.
    sim.metrics_error = None
    sim.tick(command="resume")
    sim.tick()
    assert sim.status.phase == "Progressing" and sim.status.unavailable_checks == 0


def test_missing_metrics_can_roll_back_or_wait_for_ever() -> None:
    sim = rolling(analysis={"interval": "15s", "unavailableLimit": 3, "unavailable": "Rollback"})
    sim.metrics_error = "cannot read loan-v2-abc: connection refused"
    sim.run(3)
    assert sim.status.phase == "RolledBack"
    assert sim.status.history[-1].reason == "MetricsUnavailable"
    waits = rolling(analysis={"interval": "15s", "unavailableLimit": 0})
    waits.metrics_error = "prometheus: timed out"
    waits.run(100)
    assert waits.status.phase == "Progressing" and waits.status.stage == "1/4"
