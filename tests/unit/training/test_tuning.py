"""The tuning core: rebuild the study from status, ask, record, finish, resume."""

from __future__ import annotations

from typing import Any

import pytest
from modelrelease_operator.api.training import ModelTrainingStatus
from modelrelease_operator.api.tuning import TrialStatus
from modelrelease_operator.training import search
from modelrelease_operator.training.tuning import decide_tuning, progress

from .tuning_world import NAME, NOW, World, score, step, through_json, tuning_spec


def _numbers(status: ModelTrainingStatus) -> list[int]:
    return [t.number for t in (status.tuning.trials if status.tuning else [])]


def _states(status: ModelTrainingStatus) -> list[str]:
    assert status.tuning is not None
    return [t.state for t in status.tuning.trials]


def test_first_look_asks_parallelism_trials_and_records_them() -> None:
    spec, world = tuning_spec(), World()
    decision = step(spec, ModelTrainingStatus(), world)
    status = decision.status
    assert _numbers(status) == [0, 1, 2]
    assert _states(status) == ["Running"] * 3
    assert status.tuning is not None
    assert [t.job_name for t in status.tuning.trials] == ["t1-trial-0", "t1-trial-1", "t1-trial-2"]
    assert [(j.number, j.params) for j in decision.create_jobs] == [
        (t.number, t.params) for t in status.tuning.trials
    ]
    for trial in status.tuning.trials:
        assert 2 <= trial.params["max_depth"] <= 10
        assert 0.01 <= trial.params["learning_rate"] <= 0.5
        assert trial.params["grow_policy"] in {"depthwise", "lossguide"}
    assert status.phase == "Pending"
    assert status.tuning.progress == "trials 0/8 (3 running)"
    assert [e.reason for e in decision.events] == ["TrialsStarted"]


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_the_same_status_asks_the_same_trials(sampler: str) -> None:
    # An operator that died before writing what it asked asks it again, identically:
    # here after 12 finished trials, past TPE's 10 random start-up trials.
    spec, world = tuning_spec(trials=20, parallelism=4, sampler=sampler), World()
    status = ModelTrainingStatus()
    while len(_numbers(status)) < 16:
        status = through_json(step(spec, status, world).status)
        for name in world.running()[:2]:
            world.complete(name)
    first = step(spec, status, world, create=False)
    again = step(spec, status, world, create=False)
    assert first.create_jobs and first.create_jobs == again.create_jobs
    assert first.status == again.status


def test_a_restart_between_status_and_job_creates_the_recorded_trials_only() -> None:
    spec, world = tuning_spec(), World()
    recorded = through_json(step(spec, ModelTrainingStatus(), world, create=False).status)
    assert not world.jobs  # died before creating any Job
    decision = step(spec, recorded, world)
    assert _numbers(decision.status) == [0, 1, 2]  # nothing asked anew
    assert decision.status.tuning is not None
    assert [(j.number, j.params) for j in decision.create_jobs] == [
        (t.number, t.params) for t in decision.status.tuning.trials
    ]
    # And a Job that exists is never created a second time.
    assert step(spec, through_json(decision.status), world).create_jobs == []


def test_a_completed_trial_becomes_the_best_and_makes_room_for_the_next() -> None:
    spec, world = tuning_spec(), World()
    status = through_json(step(spec, ModelTrainingStatus(), world).status)
    world.complete("t1-trial-1", {"roc_auc": 0.8123, "log_loss": 0.3})
    decision = step(spec, status, world)
    new = decision.status
    assert new.tuning is not None and new.tuning.best is not None
    assert (new.tuning.best.number, new.tuning.best.value) == (1, 0.8123)
    assert new.tuning.trials[1].state == "Complete"
    assert new.tuning.trials[1].value == 0.8123
    assert new.metrics == {"roc_auc": 0.8123, "log_loss": 0.3}
    assert new.artifact is not None
    assert new.artifact.uri == "pvc://model-store/loan-default/t1/trial-1"
    assert new.artifact.digest == f"sha256:{1:064x}"
    assert new.headline == "roc_auc=0.8123"
    assert new.job_name == "t1-trial-1"
    assert [j.number for j in decision.create_jobs] == [3]
    assert new.phase == "Running"
    assert new.tuning.progress == "trials 1/8 (3 running), best roc_auc=0.8123"
    assert [e.reason for e in decision.events] == ["NewBestTrial", "TrialsStarted"]


def test_a_worse_trial_does_not_replace_the_best() -> None:
    spec, world = tuning_spec(), World()
    status = through_json(step(spec, ModelTrainingStatus(), world).status)
    world.complete("t1-trial-0", {"roc_auc": 0.9})
    world.complete("t1-trial-2", {"roc_auc": 0.7})
    new = step(spec, status, world).status
    assert new.tuning is not None and new.tuning.best is not None
    assert new.tuning.best.number == 0
    assert new.metrics == {"roc_auc": 0.9}


@pytest.mark.parametrize(
    ("finish", "message"),
    [
        (lambda w: w.fail("t1-trial-0", "bad max_leaves"), "bad max_leaves (exit code 1"),
        (lambda w: w.complete("t1-trial-0", {"accuracy": 0.9}), "reported no roc_auc"),
        (lambda w: w.complete("t1-trial-0", {"roc_auc": "high"}), "reported no roc_auc"),
    ],
    ids=["job-failed", "no-objective", "not-a-number"],
)
def test_a_failed_trial_is_recorded_and_replaced(finish: Any, message: str) -> None:
    spec, world = tuning_spec(), World()
    status = through_json(step(spec, ModelTrainingStatus(), world).status)
    finish(world)
    decision = step(spec, status, world)
    assert decision.status.tuning is not None
    trial = decision.status.tuning.trials[0]
    assert (trial.state, trial.value) == ("Failed", None)
    assert trial.message is not None and message in trial.message
    assert decision.status.tuning.best is None
    assert [j.number for j in decision.create_jobs] == [3]
    assert "TrialFailed" in [e.reason for e in decision.events]


def _run_to_the_end(spec: Any, world: World, fail: set[int] = frozenset()) -> ModelTrainingStatus:  # type: ignore[assignment]
    status = ModelTrainingStatus()
    for _ in range(200):
        status = through_json(step(spec, status, world).status)
        if status.phase in {"Succeeded", "Failed", "Rejected"}:
            return status
        for name in world.running()[:1]:
            number = int(name.rsplit("-", 1)[1])
            world.fail(name) if number in fail else world.complete(name)
    raise AssertionError("the search never ended")


def test_the_best_trial_becomes_the_model_and_faces_the_gate() -> None:
    world = World()
    status = _run_to_the_end(tuning_spec(), world, fail={2})
    assert status.phase == "Succeeded", status.message
    assert status.tuning is not None and status.tuning.best is not None
    values = {t.number: t.value for t in status.tuning.trials if t.value is not None}
    assert len(values) == 7  # trial 2 failed
    best = max(values, key=lambda n: values[n] or 0.0)
    assert status.tuning.best.number == best
    assert status.tuning.best.value == values[best]
    assert status.artifact is not None
    assert status.artifact.uri.endswith(f"/t1/trial-{best}")
    assert status.tuning.best.params == world.params[f"t1-trial-{best}"]
    assert status.tuning.progress.startswith("trials 8/8, best roc_auc=")
    assert "trial" in status.message and status.completion_time
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert ready.status == "True"


def test_a_best_trial_below_the_gate_rejects_the_training() -> None:
    spec = tuning_spec().model_copy(deep=True)
    spec.quality_gate = spec.quality_gate.model_validate(
        {"thresholds": [{"metric": "roc_auc", "min": 0.99}]}
    )
    status = _run_to_the_end(spec, World())
    assert status.phase == "Rejected"
    assert status.gate is not None and not status.gate[0].passed
    assert "quality gate failed for trial" in status.message


def test_all_trials_failing_fails_the_training_with_the_reason() -> None:
    status = _run_to_the_end(tuning_spec(trials=3), World(), fail={0, 1, 2})
    assert status.phase == "Failed"
    assert status.message.startswith("all 3 trials failed; trial 2: out of memory")
    assert status.artifact is None


def test_minimize_keeps_the_lowest_value() -> None:
    spec = tuning_spec(trials=4, parallelism=4, objective={"metric": "log_loss"})
    world = World()
    status = through_json(step(spec, ModelTrainingStatus(), world).status)
    for number, value in enumerate([0.4, 0.2, 0.5, 0.3]):
        world.complete(f"t1-trial-{number}", {"log_loss": value, "roc_auc": 0.8})
    status = step(spec, status, world).status
    assert status.phase == "Succeeded"
    assert status.tuning is not None and status.tuning.best is not None
    assert (status.tuning.best.number, status.tuning.best.value) == (1, 0.2)


def test_a_search_with_restarts_never_repeats_loses_or_overruns_a_trial() -> None:
    spec, world = tuning_spec(trials=20, parallelism=4), World()
    status = ModelTrainingStatus()
    for turn in range(300):
        decision = step(spec, status, world, create=turn % 3 != 1)
        if turn % 5 != 2:  # else the status write is lost (409, or a crash before it)
            status = through_json(decision.status)
        if status.phase == "Succeeded":
            break
        for name in world.running()[: 1 + turn % 2]:
            world.complete(name)
    assert status.phase == "Succeeded", status.message
    assert _numbers(status) == list(range(20))
    assert sorted(world.jobs) == sorted(f"t1-trial-{n}" for n in range(20))
    assert world.most_running <= 4
    assert status.tuning is not None
    for trial in status.tuning.trials:  # each Job trained the parameters status recorded
        assert world.params[trial.job_name] == trial.params
        assert trial.value == score(trial.params)
    best = max(status.tuning.trials, key=lambda t: t.value or 0)
    assert status.tuning.best is not None and status.tuning.best.number == best.number


def test_a_lost_job_of_a_recorded_trial_is_created_again() -> None:
    spec, world = tuning_spec(), World()
    status = through_json(step(spec, ModelTrainingStatus(), world).status)
    del world.jobs["t1-trial-1"]
    decision = step(spec, status, world, create=False)
    assert decision.status.tuning is not None
    assert [(j.number, j.params) for j in decision.create_jobs] == [
        (1, decision.status.tuning.trials[1].params)
    ]


def test_a_finished_training_is_left_alone() -> None:
    spec, world = tuning_spec(), World()
    done = ModelTrainingStatus(phase="Succeeded", message="done")
    decision = decide_tuning(
        spec, done, name=NAME, generation=1, observed=world.observation(), now=NOW
    )
    assert decision.create_jobs == [] and decision.events == []
    assert decision.status.tuning is None


def test_rebuild_holds_every_recorded_trial_under_its_number() -> None:
    spec = tuning_spec()
    assert spec.tuning is not None
    params = {"max_depth": 3, "learning_rate": 0.1, "grow_policy": "lossguide"}
    trials = [
        TrialStatus(number=0, state="Complete", params=params, job_name="a", value=0.8),
        TrialStatus(number=1, state="Failed", params=params, job_name="b", message="x"),
        TrialStatus(number=2, state="Running", params=params, job_name="c"),
    ]
    study = search.rebuild(spec.tuning, trials, seed=1)
    assert [(t.number, t.state.name, t.value) for t in study.trials] == [
        (0, "COMPLETE", 0.8),
        (1, "FAIL", None),
        (2, "RUNNING", None),
    ]
    assert study.trials[0].params == params
    [asked] = search.ask(spec.tuning, trials, seed=1, count=1)
    assert set(asked) == set(params)


def test_categorical_choices_that_read_as_numbers_are_numbers() -> None:
    spec = tuning_spec(
        parameters={"max_bin": {"type": "categorical", "choices": ["64", "128"]}},
        trials=6,
        parallelism=6,
    )
    status = step(spec, ModelTrainingStatus(), World()).status
    assert status.tuning is not None
    assert {t.params["max_bin"] for t in status.tuning.trials} <= {64, 128}


def test_progress_counts_ended_trials_of_all() -> None:
    spec = tuning_spec(trials=40)
    status = ModelTrainingStatus.model_validate(
        {
            "tuning": {
                "trials": [
                    {"number": 0, "state": "Complete", "params": {}, "jobName": "a", "value": 0.86},
                    {"number": 1, "state": "Running", "params": {}, "jobName": "b"},
                ],
                "best": {"number": 0, "value": 0.861, "params": {}},
            }
        }
    )
    assert status.tuning is not None
    assert progress(spec, status.tuning) == "trials 1/40 (1 running), best roc_auc=0.8610"


def test_a_trial_outside_the_space_keeps_its_number_in_the_rebuilt_study() -> None:
    spec = tuning_spec()
    assert spec.tuning is not None
    odd = {"max_depth": 99, "learning_rate": 0.1, "grow_policy": "lossguide"}
    trials = [TrialStatus(number=0, state="Complete", params=odd, job_name="a", value=0.8)]
    study = search.rebuild(spec.tuning, trials, seed=1)
    assert [(t.number, t.params) for t in study.trials] == [(0, {})]
    [asked] = search.ask(spec.tuning, trials, seed=1, count=1)
    assert 2 <= asked["max_depth"] <= 10
