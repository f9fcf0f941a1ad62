"""A training's standard conditions as its decisions write them, including trainings
that finished before the conditions existed."""

from __future__ import annotations

from datetime import timedelta

from modelrelease_operator.api.common import Condition
from modelrelease_operator.api.training import ModelTrainingStatus
from modelrelease_operator.training.decide import Observation, decide

from .specs import make_spec
from .test_decide import NOW, job, pod


def standard(status: ModelTrainingStatus) -> dict[str, str]:
    return {c.type: c.status for c in status.conditions if c.type in STANDARD}


STANDARD = ("Ready", "Reconciling", "Stalled")


def test_a_new_training_is_reconciling_with_the_generation_observed() -> None:
    decision = decide(
        make_spec(),
        ModelTrainingStatus(),
        name="t1",
        generation=1,
        observed=Observation(job=None),
        now=NOW,
    )
    assert standard(decision.status) == {
        "Ready": "False",
        "Reconciling": "True",
        "Stalled": "False",
    }
    assert all(c.observed_generation == 1 for c in decision.status.conditions)
    reconciling = next(c for c in decision.status.conditions if c.type == "Reconciling")
    assert (reconciling.reason, reconciling.message) == ("Pending", "Pending: training Job created")


def test_a_failed_job_stalls_the_training() -> None:
    decision = decide(
        make_spec(),
        ModelTrainingStatus(phase="Running", job_name="t1-train"),
        name="t1",
        generation=1,
        observed=Observation(job=job("Failed"), pods=[pod("Failed", exit_code=1)]),
        now=NOW,
    )
    assert decision.status.phase == "Failed"
    assert standard(decision.status) == {
        "Ready": "False",
        "Reconciling": "False",
        "Stalled": "True",
    }


def test_a_training_finished_before_the_conditions_existed_gets_them_once() -> None:
    old = ModelTrainingStatus(
        phase="Succeeded",
        message="model t1 trained",
        observed_generation=1,
        conditions=[
            Condition(
                type="Ready",
                status="True",
                reason="Succeeded",
                message="model t1 trained",
                last_transition_time="2026-11-20T10:00:00Z",
                observed_generation=1,
            )
        ],
    )
    first = decide(
        make_spec(), old, name="t1", generation=1, observed=Observation(job=None), now=NOW
    )
    assert first.events == [] and not first.create_job
    assert standard(first.status) == {"Ready": "True", "Reconciling": "False", "Stalled": "False"}
    ready = next(c for c in first.status.conditions if c.type == "Ready")
    assert ready.last_transition_time == "2026-11-20T10:00:00Z"  # it did not flip
    again = decide(
        make_spec(),
        first.status,
        name="t1",
        generation=1,
        observed=Observation(job=None),
        now=NOW + timedelta(minutes=1),
    )
    assert again.status == first.status  # nothing to write
