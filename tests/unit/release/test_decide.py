"""The release state machine, tick by tick and scenario by scenario."""

from __future__ import annotations

from datetime import timedelta

import pytest
from modelrelease_operator.api.release import ModelReleaseStatus
from modelrelease_operator.release.decide import decide
from modelrelease_operator.release.seen import Observations, Resolution

from .builders import (
    NOW,
    V1,
    V2,
    V3,
    Behaviour,
    Simulation,
    make_spec,
    ready,
    ref,
    steady,
)


def simulate(**spec: object) -> Simulation:
    return Simulation(make_spec(**spec), steady())


def test_a_healthy_candidate_is_promoted_through_every_stage() -> None:
    sim = simulate()
    sim.run(60, until={"Succeeded", "RolledBack", "Failed"})
    assert sim.status.phase == "Succeeded"
    # Each stage: first the candidate's pods are sized for it, then its weight moves.
    assert sim.phases == [
        "Progressing 1/4 0%",
        "Progressing 1/4 10%",
        "Progressing 2/4 10%",
        "Progressing 2/4 25%",
        "Progressing 3/4 25%",
        "Progressing 3/4 50%",
        "Progressing 4/4 50%",
        "Progressing 4/4 100%",
        "Succeeded 4/4 0%",
    ]
    assert sim.status.stable == V2 and sim.status.previous == V1
    assert sim.status.candidate is None and sim.status.candidate_weight == 0
    assert sim.status.stable_version == "v2" and sim.status.candidate_version is None
    reasons = [entry.reason for entry in sim.status.history]
    assert reasons[0] == "RolloutStarted" and reasons[-1] == "Promoted"
    assert reasons.count("StagePassed") == 3
    assert all(g.verdict == "Pass" for g in sim.decisions[-2].status.gates)


def test_a_latency_regression_at_25_percent_rolls_back() -> None:
    sim = simulate()
    # Healthy at 10%; the candidate slows down once it takes 25%.
    while sim.status.candidate_weight < 25:
        sim.tick()
    sim.traffic.behaviours["v2"] = Behaviour(latency=0.4)
    sim.run(20, until={"RolledBack"})
    status = sim.status
    assert status.phase == "RolledBack"
    assert status.stage == "2/4"
    assert status.candidate_weight == 0
    assert status.failed_gate is not None
    assert status.failed_gate.name in {"latency-p99", "relative-latency"}
    assert status.failed_gate.verdict == "Fail"
    assert status.failed_gate.value is not None and status.failed_gate.threshold is not None
    assert status.failed_gate.value > status.failed_gate.threshold
    assert status.rejected_digest == V2.digest
    assert status.stable == V1
    assert sim.decisions[-1].events[-1].type == "Warning"


def test_a_drifted_candidate_rolls_back_on_the_drift_gate() -> None:
    sim = simulate()
    sim.traffic.behaviours["v2"] = Behaviour(score_mean=0.65)
    sim.run(30, until={"RolledBack", "Succeeded"})
    assert sim.status.phase == "RolledBack"
    assert sim.status.failed_gate is not None and sim.status.failed_gate.name == "drift"
    assert sim.status.failed_gate.value is not None
    assert sim.status.failed_gate.value > 0.2 == sim.status.failed_gate.threshold
    assert sim.status.stage == "1/4"


def test_an_erroring_candidate_fails_the_two_proportion_test() -> None:
    spec = make_spec()
    spec.analysis.gates.error_rate = None
    sim = Simulation(spec, steady())
    sim.traffic.behaviours["v2"] = Behaviour(error_rate=0.15)
    sim.run(30, until={"RolledBack", "Succeeded"})
    assert sim.status.phase == "RolledBack"
    assert sim.status.failed_gate is not None
    assert sim.status.failed_gate.name == "relative-error-rate"
    assert sim.status.failed_gate.value is not None and sim.status.failed_gate.value < 0.05


def test_no_traffic_stays_inconclusive_and_is_never_promoted() -> None:
    sim = simulate()
    sim.rps = 0
    sim.run(200)
    assert sim.status.phase == "Progressing"
    assert sim.status.stage == "1/4" and sim.status.candidate_weight == 10
    traffic = next(g for g in sim.status.gates if g.name == "traffic")
    assert traffic.verdict == "Inconclusive"
    assert "waiting for more data" in sim.status.message
    assert sim.status.stable == V1


@pytest.mark.parametrize(
    ("policy", "phase", "reason"),
    [("Pause", "Paused", "PausedInconclusive"), ("Rollback", "RolledBack", "Inconclusive")],
)
def test_inconclusive_policy_pauses_or_rolls_back(policy: str, phase: str, reason: str) -> None:
    spec = make_spec()
    spec.analysis.inconclusive = policy  # type: ignore[assignment]
    sim = Simulation(spec, steady(), rps=0)
    sim.run(40, until={phase})
    assert sim.status.phase == phase
    assert sim.status.history[-1].reason == reason


def test_failure_limit_allows_some_failed_checks() -> None:
    spec = make_spec()
    spec.analysis.failure_limit = 3
    sim = Simulation(spec, steady())
    sim.traffic.behaviours["v2"] = Behaviour(latency=0.4)
    seen_counts = []
    for _ in range(40):
        sim.tick()
        seen_counts.append(sim.status.failed_checks)
        if sim.status.phase == "RolledBack":
            break
    assert sim.status.phase == "RolledBack"
    assert 1 in seen_counts and 2 in seen_counts and sim.status.failed_checks == 3


def test_pause_resume_promote_and_abort() -> None:
    sim = simulate()
    while sim.status.candidate_weight < 10:
        sim.tick()
    sim.tick(command="pause")
    assert sim.status.phase == "Paused" and sim.status.paused_reason == "Manual"
    assert sim.status.last_command is not None and sim.status.last_command.result == "paused"
    for _ in range(20):  # paused: time passes, the stage does not move
        sim.tick()
    assert sim.status.phase == "Paused" and sim.status.stage == "1/4"
    sim.tick(command="resume")
    assert sim.status.phase == "Progressing"
    sim.tick(command="promote")
    assert sim.status.stage == "2/4" and sim.status.candidate_weight == 10
    sim.tick()
    assert sim.status.candidate_weight == 25
    sim.tick(command="abort")
    assert sim.status.phase == "RolledBack" and sim.status.candidate_weight == 0
    assert sim.status.history[-1].reason == "Aborted"
    for _ in range(5):  # an aborted candidate is not tried again by itself
        sim.tick()
    assert sim.status.phase == "RolledBack"
    sim.tick(command="retry")
    assert sim.status.phase == "Pending"
    sim.tick()
    assert sim.status.phase == "Progressing" and sim.status.stage == "1/4"


def test_promote_full_skips_the_remaining_stages() -> None:
    sim = simulate()
    while sim.status.candidate_weight < 10:
        sim.tick()
    sim.tick(command="promote-full")
    assert sim.status.promoting_fully and sim.status.stage == "4/4"
    sim.tick()
    assert sim.status.candidate_weight == 100
    sim.tick()
    assert sim.status.phase == "Succeeded" and sim.status.stable == V2


def test_a_command_that_does_not_apply_is_recorded_and_changes_nothing() -> None:
    decision = decide(make_spec(), steady(), Observations(command="pause"), NOW)
    assert decision.status.phase == "Succeeded"
    assert decision.status.last_command is not None
    assert decision.status.last_command.result.startswith("ignored")
    assert [e.reason for e in decision.events] == ["CommandIgnored"]


def test_a_stage_with_pause_waits_for_promote() -> None:
    spec = make_spec()
    spec.stages[0].pause = True
    sim = Simulation(spec, steady())
    sim.run(30, until={"Paused"})
    assert sim.status.paused_reason == "Stage" and sim.status.stage == "1/4"
    sim.run(10)
    assert sim.status.phase == "Paused"
    sim.tick(command="resume")
    assert sim.status.stage == "2/4" and sim.status.phase == "Progressing"


def test_spec_paused_holds_and_releases() -> None:
    sim = simulate()
    sim.run(3)
    sim.spec.paused = True
    sim.tick()
    assert sim.status.phase == "Paused" and sim.status.paused_reason == "Spec"
    sim.tick(command="resume")
    assert sim.status.phase == "Paused"
    sim.spec.paused = False
    sim.tick()
    assert sim.status.phase == "Progressing"


def test_a_failing_gate_still_rolls_back_while_paused() -> None:
    sim = simulate()
    while sim.status.candidate_weight < 10:
        sim.tick()
    sim.tick(command="pause")
    sim.traffic.behaviours["v2"] = Behaviour(latency=0.5)
    sim.run(20, until={"RolledBack"})
    assert sim.status.phase == "RolledBack"


def test_a_new_candidate_mid_rollout_replaces_the_old_one() -> None:
    sim = simulate()
    while sim.status.candidate_weight < 25:
        sim.tick()
    sim.candidate = ready(V3)
    sim.tick()
    assert sim.status.phase == "Progressing"
    assert sim.status.candidate == V3 and sim.status.stage == "1/4"
    assert sim.status.candidate_weight == 0
    assert sim.status.history[-1].reason == "CandidateReplaced"
    sim.run(80, until={"Succeeded"})
    assert sim.status.stable == V3 and sim.status.previous == V1


def test_a_candidate_still_training_mid_rollout_sends_traffic_back_to_stable() -> None:
    sim = simulate()
    while sim.status.candidate_weight < 10:
        sim.tick()
    sim.candidate = Resolution("Waiting", None, "training v3 is Running")
    sim.tick()
    assert sim.status.phase == "Pending" and sim.status.candidate is None
    assert sim.status.candidate_weight == 0
    sim.candidate = ready(V3)
    sim.tick()
    assert sim.status.phase == "Progressing" and sim.status.candidate == V3


def test_a_rejected_training_never_becomes_a_candidate() -> None:
    rejected = Resolution("Rejected", None, "training v2 was Rejected by its quality gate")
    decision = decide(
        make_spec(), steady(), Observations(candidate=rejected, stable_ready=True), NOW
    )
    assert decision.status.phase == "Failed"
    assert decision.status.candidate is None
    assert decision.events[-1].reason == "CandidateUnusable"
    again = decide(make_spec(), decision.status, Observations(candidate=rejected), NOW)
    assert again.events == [] and again.status.history == decision.status.history


def test_the_risk_check_refuses_a_worse_candidate_before_any_traffic_moves() -> None:
    worse = ref("v2", "b", roc_auc=0.80)
    spec = make_spec(riskCheck={"metrics": [{"metric": "roc_auc", "maxDegradation": 0.01}]})
    seen = Observations(candidate=ready(worse), stable_ready=True)
    decision = decide(spec, steady(), seen, NOW)
    status = decision.status
    assert status.phase == "Failed" and status.candidate_weight == 0
    assert status.deployed_at is None
    assert status.risk is not None and not status.risk.passed
    assert "roc_auc 0.8 vs stable 0.86" in status.risk.message
    assert any(c.type == "RiskCheckPassed" and c.status == "False" for c in status.conditions)
    assert decide(spec, status, seen, NOW).status.phase == "Failed"


def test_a_candidate_never_ready_fails_the_release_after_the_deadline() -> None:
    sim = simulate(readinessDeadline="2m")
    sim.candidate_ready = False
    sim.run(20, until={"Failed"})
    assert sim.status.phase == "Failed" and sim.status.candidate_weight == 0
    assert sim.status.history[-1].reason == "CandidateNotReady"
    assert sim.now - NOW <= timedelta(minutes=2, seconds=45)


def test_first_release_deploys_stable_then_settles() -> None:
    spec = make_spec(stable={"training": "v1"}, candidate=None)
    seen = Observations(stable_source=ready(V1))
    first = decide(spec, ModelReleaseStatus(), seen, NOW)
    assert first.status.phase == "Pending" and first.status.stable == V1
    waiting = decide(spec, first.status, seen, NOW)
    assert waiting.status.phase == "Pending" and not waiting.actions
    done = decide(spec, first.status, Observations(stable_source=ready(V1), stable_ready=True), NOW)
    assert done.status.phase == "Succeeded" and done.status.stage == ""


def test_same_version_with_another_digest_is_refused() -> None:
    clash = ref("v1", "z")
    decision = decide(
        make_spec(), steady(), Observations(candidate=ready(clash), stable_ready=True), NOW
    )
    assert decision.status.phase == "Failed"
    assert decision.status.history[-1].reason == "SameVersion"


def test_decisions_are_idempotent_when_the_status_write_is_lost() -> None:
    """The operator dies after deciding, before writing: the same inputs decide the same."""
    sim = simulate()
    for _ in range(12):
        before = sim.status.model_copy(deep=True)
        observed = Observations(
            candidate=sim.candidate,
            stable_ready=True,
            candidate_ready=True,
            metrics=sim.traffic.read(),
        )
        once = decide(sim.spec, before, observed, sim.now + timedelta(seconds=15), 1)
        twice = decide(sim.spec, before, observed, sim.now + timedelta(seconds=15), 1)
        assert once.status == twice.status and once.actions == twice.actions
        sim.tick()


def test_a_restart_resumes_the_same_stage_without_stepping_twice() -> None:
    sim = simulate()
    while sim.status.stage != "2/4" or sim.status.window is None:
        sim.tick()
    # A restarted operator reads the written status; ticks come sooner than the interval.
    resumed = ModelReleaseStatus.model_validate(sim.status.to_wire())
    observed = Observations(
        candidate=sim.candidate, stable_ready=True, candidate_ready=True, metrics=sim.traffic.read()
    )
    again = decide(sim.spec, resumed, observed, sim.now + timedelta(seconds=1), 1)
    assert again.status.stage == "2/4" and again.actions == [] and not again.checked
    assert again.status.window == sim.status.window


def test_at_most_one_transition_per_decision() -> None:
    sim = simulate()
    sim.run(60, until={"Succeeded"})
    assert all(len([a for a in d.actions if a != "window"]) <= 1 for d in sim.decisions)


def test_a_rolled_back_release_is_not_rolled_out_again_until_the_candidate_changes() -> None:
    sim = simulate()
    sim.traffic.behaviours["v2"] = Behaviour(latency=0.6)
    sim.run(30, until={"RolledBack"})
    sim.run(10)
    assert sim.status.phase == "RolledBack"
    sim.candidate = ready(V3)
    sim.tick()
    assert sim.status.phase == "Progressing" and sim.status.candidate == V3
    assert sim.status.failed_gate is None and sim.status.rejected_digest is None


def test_history_is_bounded() -> None:
    sim = simulate(historyLimit=3)
    sim.run(60, until={"Succeeded"})
    assert len(sim.status.history) == 3
    assert sim.status.history[-1].reason == "Promoted"


def test_conditions_follow_the_phase() -> None:
    sim = simulate()
    sim.run(4)
    kinds = {c.type: c.status for c in sim.status.conditions}
    assert kinds["Progressing"] == "True" and kinds["Paused"] == "False"
    assert kinds["Available"] == "True"
    sim.run(60, until={"Succeeded"})
    kinds = {c.type: c.status for c in sim.status.conditions}
    assert kinds["Progressing"] == "False"


def test_withdrawing_the_candidate_rolls_back() -> None:
    sim = simulate()
    sim.run(3)
    sim.candidate = None
    sim.tick()
    assert sim.status.phase == "RolledBack"
    assert sim.status.history[-1].reason == "CandidateWithdrawn"


def test_implied_final_stage_promotes_without_judging() -> None:
    spec = make_spec(stages=[{"weight": 20, "duration": "30s", "minRequests": 50}])
    sim = Simulation(spec, steady())
    sim.run(30, until={"Succeeded"})
    assert sim.status.phase == "Succeeded"
    assert [p.split()[1] for p in sim.phases if p.startswith("Progressing")] == [
        "1/2",
        "1/2",
        "2/2",
        "2/2",
    ]
    assert sim.status.stable == V2
