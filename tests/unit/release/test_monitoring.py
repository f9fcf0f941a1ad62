"""spec.monitoring: the stable judged in production, tick by tick with `decide`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from modelrelease_operator.release import monitoring

from .builders import V1, V2, Behaviour, Simulation, make_spec, ready, steady

FOLLOW: dict[str, Any] = {"fromTrainings": {"matchLabels": {"app": "loan"}}}
WATCH: dict[str, Any] = {
    "interval": "1m",
    "window": "5m",
    "failureLimit": 2,
    "minRequests": 100,
    "gates": {"drift": {"maxPsi": 0.2, "minPredictions": 200}, "errorRate": {"max": 0.02}},
}


def watched(**spec: Any) -> Simulation:
    """v1 serving alone, nothing to roll out, monitoring on."""
    document = {"candidate": FOLLOW, "monitoring": WATCH, **spec}
    return Simulation(make_spec(**document), steady(), candidate=None)


def reasons(sim: Simulation) -> list[str]:
    return [entry.reason for entry in sim.status.history]


def condition(sim: Simulation, kind: str = "Degraded") -> Any:
    return next(c for c in sim.status.conditions if c.type == kind)


def test_a_healthy_stable_stays_healthy_without_transitions() -> None:
    sim = watched()
    sim.run(40)
    assert sim.status.phase == "Succeeded" and sim.status.health == "Healthy"
    assert reasons(sim) == []
    state = sim.status.monitoring
    assert state is not None and state.version == "v1" and not state.degraded
    assert {g.name: g.verdict for g in state.gates} == {"error-rate": "Pass", "drift": "Pass"}
    assert condition(sim).status == "False" and condition(sim).reason == "Healthy"
    # A sliding window: a few checkpoints, the oldest about one window back.
    assert 2 <= len(state.checkpoints) <= 10
    oldest = sim.now - _at(state.checkpoints[0].at)
    assert timedelta(minutes=5) <= oldest <= timedelta(minutes=7)


def _at(stamp: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(stamp)


def test_a_population_shift_degrades_after_failure_limit_checks_and_says_why() -> None:
    sim = watched()
    sim.run(20)
    sim.traffic.behaviours["v1"] = Behaviour(score_mean=0.65)
    failed_at = []
    for _ in range(40):
        decision = sim.tick()
        state = sim.status.monitoring
        assert state is not None
        if state.failed_checks and (not failed_at or failed_at[-1] != state.failed_checks):
            failed_at.append(state.failed_checks)
        if sim.status.health == "Degraded":
            break
    assert sim.status.health == "Degraded" and failed_at[:2] == [1, 2]
    assert sim.status.phase == "Succeeded"  # production keeps serving; only health changed
    assert [e.reason for e in decision.events] == ["Degraded"]
    assert (
        decision.events[0].type == "Warning" and "gate drift failed" in decision.events[0].message
    )
    assert reasons(sim)[-1] == "Degraded"
    degraded = condition(sim)
    assert degraded.status == "True" and degraded.reason == "GateFailed"
    assert degraded.message.startswith("drift: ") and "threshold 0.2" in degraded.message
    state = sim.status.monitoring
    assert state is not None and state.failed_gate is not None
    assert state.failed_gate.value is not None and state.failed_gate.value > 0.2
    # Staying degraded is not a new transition.
    sim.run(8)
    assert reasons(sim).count("Degraded") == 1


def test_one_failed_check_below_the_limit_is_not_degraded() -> None:
    sim = watched(monitoring={**WATCH, "failureLimit": 3, "window": "1m"})
    sim.run(12)
    sim.traffic.behaviours["v1"] = Behaviour(error_rate=0.2)
    sim.run(5)  # one or two failed checks of a 1m window
    state = sim.status.monitoring
    assert state is not None and 1 <= state.failed_checks < 3
    assert sim.status.health == "Healthy"
    sim.traffic.behaviours["v1"] = Behaviour()
    sim.run(12)
    assert sim.status.monitoring is not None and sim.status.monitoring.failed_checks == 0
    assert "Degraded" not in reasons(sim)


def test_recovery_clears_degraded_once_the_window_holds_healthy_traffic() -> None:
    sim = watched()
    sim.run(12)
    sim.traffic.behaviours["v1"] = Behaviour(score_mean=0.65)
    sim.run(40)
    assert sim.status.health == "Degraded"
    sim.traffic.behaviours["v1"] = Behaviour()
    sim.run(60)
    assert sim.status.health == "Healthy"
    assert reasons(sim)[-2:] == ["Degraded", "Recovered"]
    assert condition(sim).status == "False"


def test_no_traffic_is_no_verdict() -> None:
    sim = watched()
    sim.rps = 0.0
    sim.run(30)
    state = sim.status.monitoring
    assert state is not None and state.failed_checks == 0
    assert all(g.verdict == "Inconclusive" for g in state.gates)
    assert sim.status.health == "Healthy" and reasons(sim) == []


def test_monitoring_waits_during_a_rollout_and_starts_over_on_the_new_stable() -> None:
    sim = watched()
    sim.run(12)
    sim.candidate = ready(V2)
    sim.tick()
    assert sim.status.phase == "Progressing"
    frozen = sim.status.monitoring
    assert frozen is not None
    assert not monitoring.due(sim.spec, sim.status, sim.now + timedelta(hours=1))
    sim.run(60, until={"Succeeded"})
    assert sim.status.stable == V2 and sim.status.monitoring is None
    assert sim.status.health == "Unknown"
    sim.run(12)
    state = sim.status.monitoring
    assert state is not None and state.version == "v2" and sim.status.health == "Healthy"


def test_metrics_are_read_only_when_a_check_is_due() -> None:
    sim = watched()
    assert monitoring.due(sim.spec, sim.status, sim.now)  # the first checkpoint
    sim.run(6)
    state = sim.status.monitoring
    assert state is not None and state.last_check_at is not None
    last = _at(state.last_check_at)
    assert not monitoring.due(sim.spec, sim.status, last + timedelta(seconds=20))
    assert monitoring.due(sim.spec, sim.status, last + timedelta(seconds=60))


def test_without_monitoring_there_is_no_health_and_no_condition() -> None:
    sim = Simulation(make_spec(candidate=FOLLOW), steady(V1), candidate=None)
    sim.run(10)
    assert sim.status.health is None and sim.status.monitoring is None
    assert all(c.type != "Degraded" for c in sim.status.conditions)
