"""A release's standard conditions through whole rollouts, and the GitOps abort: a
reverted spec.candidate settles the release on its stable."""

from __future__ import annotations

from modelrelease_operator.api.release import ModelReleaseStatus
from modelrelease_operator.release.decide import decide
from modelrelease_operator.release.seen import Observations

from .builders import NOW, V1, V2, Behaviour, Simulation, make_spec, ready, steady


def standard(status: ModelReleaseStatus) -> dict[str, str]:
    return {c.type: c.status for c in status.conditions if c.type in STANDARD}


STANDARD = ("Ready", "Reconciling", "Stalled")
EXPECTED = {
    "Pending": "Reconciling",
    "Progressing": "Reconciling",
    "Paused": "Stalled",
    "Succeeded": "Ready",
    "RolledBack": "Stalled",
    "Failed": "Stalled",
}


def check_every_tick(sim: Simulation) -> None:
    for decision in sim.decisions:
        status = decision.status
        found = standard(status)
        assert [kind for kind, value in found.items() if value == "True"] == [
            EXPECTED[status.phase]
        ], (status.phase, found)
        assert status.observed_generation == 1
        assert all(c.observed_generation == 1 for c in status.conditions)


def test_a_promoted_rollout_is_ready_only_at_the_end() -> None:
    sim = Simulation(make_spec(), steady())
    sim.run(60, until={"Succeeded"})
    assert sim.status.phase == "Succeeded"
    check_every_tick(sim)
    assert [standard(d.status)["Ready"] for d in sim.decisions].count("True") == 1
    reconciling = next(c for c in sim.decisions[0].status.conditions if c.type == "Reconciling")
    assert reconciling.message.startswith("stage 1/4, 0% on v2: ")


def test_a_stage_pause_stalls_until_promoted() -> None:
    stages = [
        {"weight": 50, "duration": "1m", "minRequests": 100, "pause": True},
        {"weight": 100, "duration": "1m", "minRequests": 100},
    ]
    sim = Simulation(make_spec(stages=stages), steady())
    sim.run(30, until={"Paused"})
    stalled = next(c for c in sim.status.conditions if c.type == "Stalled")
    assert (stalled.status, stalled.reason) == ("True", "PausedStage")
    assert "waiting for promote" in stalled.message
    sim.tick(command="promote")
    assert standard(sim.status)["Reconciling"] == "True"
    check_every_tick(sim)


def test_a_rollback_stalls_and_kubectl_wait_would_keep_waiting() -> None:
    sim = Simulation(make_spec(), steady())
    sim.traffic.behaviours["v2"] = Behaviour(score_mean=0.65)
    sim.run(30, until={"RolledBack"})
    assert sim.status.phase == "RolledBack"
    sim.run(5)  # the bad candidate is still named: nothing changes by itself
    assert sim.status.phase == "RolledBack"
    assert standard(sim.status) == {"Ready": "False", "Reconciling": "False", "Stalled": "True"}
    check_every_tick(sim)


def test_reverting_the_candidate_in_git_aborts_and_settles_on_the_stable() -> None:
    sim = Simulation(make_spec(), steady())
    sim.run(3)
    # The commit naming v2 is reverted: spec.candidate names the stable's model again.
    sim.candidate = ready(V1)
    sim.tick()
    assert sim.status.phase == "RolledBack"
    assert sim.status.history[-1].reason == "CandidateWithdrawn"
    assert sim.status.candidate_weight == 0
    sim.tick()
    assert sim.status.phase == "Succeeded"
    assert sim.status.history[-1].reason == "StableReady"
    assert sim.status.stable == V1 and sim.status.candidate is None
    assert standard(sim.status)["Ready"] == "True"
    check_every_tick(sim)


def test_a_failed_release_settles_once_its_candidate_is_removed() -> None:
    status = steady().model_copy(update={"phase": "Failed", "rejected_digest": V2.digest})
    spec = make_spec()
    kept = decide(spec, status, Observations(candidate=ready(V2), stable_ready=True), NOW, 2)
    assert kept.status.phase == "Failed"  # still named: a person must act
    removed = decide(spec, status, Observations(candidate=None, stable_ready=True), NOW, 2)
    assert removed.status.phase == "Succeeded"
    assert removed.actions == ["settle"]
    assert removed.status.observed_generation == 2


def test_settling_waits_for_the_stable_to_be_ready() -> None:
    status = steady().model_copy(update={"phase": "RolledBack"})
    decision = decide(make_spec(), status, Observations(candidate=None, stable_ready=False), NOW)
    assert decision.status.phase == "RolledBack"
