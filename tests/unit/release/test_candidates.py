"""spec.candidate.fromTrainings: which ModelTraining becomes the candidate, and why not
the others; alone, and tick by tick with `decide`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from modelrelease_operator.api.release import LabelSelector, ModelRef, ModelReleaseStatus
from modelrelease_operator.release.candidates import (
    Choice,
    TrainingSeen,
    choose,
    seen_from_object,
)
from modelrelease_operator.release.selectors import selector_string

from .builders import NOW, V1, V2, V3, Simulation, make_spec, ref, steady

FOLLOW: dict[str, Any] = {"fromTrainings": {"matchLabels": {"app": "loan"}}}


def trained(model: ModelRef, minutes: int, phase: str = "Succeeded", **extra: Any) -> TrainingSeen:
    """A training named like its model's version, created `minutes` after the stable's."""
    assert model.training is not None
    return TrainingSeen(
        name=model.training,
        created=NOW + timedelta(minutes=minutes),
        model_name=extra.pop("model_name", "loan-default"),
        phase=phase,
        ref=model if phase == "Succeeded" else None,
        **extra,
    )


STABLE = trained(V1, 0)


def pick(
    trainings: list[TrainingSeen],
    status: ModelReleaseStatus | None = None,
    policy: str | None = None,
) -> Choice:
    candidate = dict(FOLLOW, policy=policy) if policy else FOLLOW
    spec = make_spec(candidate=candidate)
    status = status if status is not None else steady()
    assert status.stable is not None
    created = next(
        (t.created for t in trainings if t.name == status.stable.training), STABLE.created
    )
    return choose(spec, status, trainings, created)


def skipped(choice: Choice) -> dict[str, str]:
    return {s.name: s.reason for s in choice.selection.skipped}


def rolling(candidate: ModelRef) -> ModelReleaseStatus:
    return ModelReleaseStatus(
        phase="Progressing", stable=V1, candidate=candidate, stage_index=1, candidate_weight=25
    )


def test_the_newest_passing_training_wins() -> None:
    choice = pick([STABLE, trained(V2, 5), trained(V3, 9)])
    assert choice.resolution is not None and choice.resolution.ref == V3
    assert choice.selection.chosen == "v3"
    assert skipped(choice) == {"v2": "superseded by the newer v3", "v1": "serves as the stable"}


@pytest.mark.parametrize(
    ("phase", "why"),
    [
        pytest.param("Rejected", "Rejected by its quality gate: roc_auc 0.61 < 0.8", id="rejected"),
        pytest.param("Failed", "Failed", id="failed"),
        pytest.param("Running", "not finished (Running)", id="running"),
    ],
)
def test_a_newer_training_that_did_not_pass_is_ignored_with_its_reason(
    phase: str, why: str
) -> None:
    newer = trained(V3, 9, phase=phase, message="roc_auc 0.61 < 0.8" if phase == "Rejected" else "")
    choice = pick([STABLE, trained(V2, 5), newer])
    assert choice.resolution is not None and choice.resolution.ref == V2
    assert skipped(choice)["v3"] == why


def test_only_rejected_trainings_leave_nothing_to_roll_out() -> None:
    choice = pick([STABLE, trained(V2, 5, phase="Rejected")])
    assert choice.resolution is None and choice.selection.chosen is None
    assert "Succeeded" in choice.selection.reason
    assert skipped(choice)["v2"] == "Rejected by its quality gate"


def test_a_training_older_than_the_stable_is_ignored() -> None:
    choice = pick([trained(V2, -5), STABLE])
    assert choice.resolution is None
    assert skipped(choice)["v2"] == "older than the stable's training v1"


def test_a_training_of_another_model_is_ignored() -> None:
    choice = pick([STABLE, trained(V2, 5, model_name="churn")])
    assert choice.resolution is None
    assert skipped(choice)["v2"] == "modelName churn, not loan-default"


def test_queue_keeps_the_running_candidate_and_names_the_next() -> None:
    choice = pick([STABLE, trained(V2, 5), trained(V3, 9)], rolling(V2))
    assert choice.resolution is not None and choice.resolution.ref == V2
    assert choice.selection.chosen == "v2" and "v3 is next" in choice.selection.reason
    assert skipped(choice)["v3"] == "queued: waits for the rollout of v2"


def test_replace_takes_the_newer_training_at_once() -> None:
    choice = pick([STABLE, trained(V2, 5), trained(V3, 9)], rolling(V2), policy="Replace")
    assert choice.resolution is not None and choice.resolution.ref == V3
    assert skipped(choice)["v2"] == "replaced by the newer v3 (policy Replace)"


def test_a_rolled_back_training_is_not_chosen_and_no_older_one_in_its_place() -> None:
    status = steady()
    status.phase, status.rejected_digest = "RolledBack", V3.digest
    choice = pick([STABLE, trained(V2, 5), trained(V3, 9)], status)
    # Handed on as it was (decide keeps a rolled-back digest out, and `retry` may bring
    # it back), never replaced by the older v2.
    assert choice.resolution is not None and choice.resolution.ref == V3
    assert "rolled back" in choice.selection.reason


def test_skipped_trainings_are_bounded_newest_first() -> None:
    rejected = [
        trained(ref(f"r{i}", "d"), 10 + i, phase="Rejected", message="worse") for i in range(9)
    ]
    choice = pick([STABLE, trained(V2, 5), *rejected])
    assert [s.name for s in choice.selection.skipped] == ["r8", "r7", "r6", "r5", "r4"]
    assert choice.selection.chosen == "v2"


def test_selectors_become_the_apis_label_selector_query() -> None:
    selector = LabelSelector.model_validate(
        {
            "matchLabels": {"team": "risk", "app": "loan"},
            "matchExpressions": [
                {"key": "track", "operator": "NotIn", "values": ["canary", "dev"]},
                {"key": "tier", "operator": "In", "values": ["prod"]},
                {"key": "approved", "operator": "Exists"},
                {"key": "broken", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector_string(selector) == (
        "app=loan,team=risk,track notin (canary,dev),tier in (prod),approved,!broken"
    )
    assert selector_string(LabelSelector()) == ""


def test_a_listed_object_is_read_as_the_chooser_sees_it() -> None:
    seen = seen_from_object(
        {
            "metadata": {"name": "loan-v4", "creationTimestamp": "2026-11-23T10:05:00Z"},
            "spec": {"modelName": "loan-default"},
            "status": {
                "phase": "Succeeded",
                "modelVersion": "v4",
                "artifact": {"uri": "s3://models/v4", "digest": "sha256:" + "e" * 64},
                "metrics": {"roc_auc": 0.9},
            },
        }
    )
    assert seen.created == datetime.fromisoformat("2026-11-23T10:05:00+00:00")
    assert seen.ref is not None and seen.ref.version == "v4" and seen.ref.training == "loan-v4"
    pending = seen_from_object({"metadata": {"name": "x"}, "status": {"phase": "Succeeded"}})
    assert pending.ref is None and pending.phase == "Succeeded"


class Following:
    """A Simulation whose candidate is chosen from `trainings` before every tick, as the
    handler does."""

    def __init__(self, trainings: list[TrainingSeen], policy: str = "Queue") -> None:
        self.trainings = trainings
        self.sim = Simulation(make_spec(candidate=dict(FOLLOW, policy=policy)), steady())

    def tick(self, command: str | None = None) -> None:
        stable = self.sim.status.stable
        assert stable is not None
        created = next(t.created for t in self.trainings if t.name == stable.training)
        choice = choose(self.sim.spec, self.sim.status, self.trainings, created)
        self.sim.candidate, self.sim.selection = choice.resolution, choice.selection
        self.sim.tick(command=command)
        assert self.sim.status.candidate_selection == choice.selection

    def run(self, ticks: int, until: set[str]) -> None:
        for _ in range(ticks):
            self.tick()
            if self.sim.status.phase in until:
                return


def test_a_new_passing_training_alone_starts_a_rollout_and_is_promoted() -> None:
    follow = Following([STABLE])
    follow.tick()
    assert follow.sim.status.phase == "Succeeded" and follow.sim.status.candidate is None
    follow.trainings.append(trained(V2, 5))
    follow.tick()
    assert follow.sim.status.phase == "Progressing" and follow.sim.status.candidate == V2
    follow.run(60, until={"Succeeded", "RolledBack", "Failed"})
    assert follow.sim.status.phase == "Succeeded" and follow.sim.status.stable == V2
    # Promoted: v2 is now the stable, and nothing newer is left to roll out.
    follow.tick()
    assert follow.sim.status.phase == "Succeeded"
    assert follow.sim.status.candidate_selection is not None
    assert follow.sim.status.candidate_selection.chosen is None


def test_queue_rolls_the_newer_training_out_after_the_running_one() -> None:
    follow = Following([STABLE, trained(V2, 5)])
    follow.tick()
    follow.tick()
    assert follow.sim.status.candidate_weight > 0
    follow.trainings.append(trained(V3, 9))
    follow.run(60, until={"Succeeded"})
    assert follow.sim.status.stable == V2
    follow.tick()
    assert follow.sim.status.phase == "Progressing" and follow.sim.status.candidate == V3


def test_replace_sends_the_running_candidate_back_and_starts_the_new_one_at_stage_1() -> None:
    follow = Following([STABLE, trained(V2, 5)], policy="Replace")
    while follow.sim.status.stage_index < 1:
        follow.tick()
    assert follow.sim.status.phase == "Progressing" and follow.sim.status.candidate == V2
    follow.trainings.append(trained(V3, 9))
    follow.tick()
    status = follow.sim.status
    assert status.candidate == V3 and status.stage_index == 0 and status.candidate_weight == 0
    assert status.history[-1].reason == "CandidateReplaced"


def test_a_rolled_back_training_is_never_rolled_out_again() -> None:
    follow = Following([STABLE, trained(V2, 5)])
    follow.tick()
    follow.tick(command="abort")
    assert follow.sim.status.phase == "RolledBack"
    for _ in range(5):
        follow.tick()
    assert follow.sim.status.phase == "RolledBack" and follow.sim.status.candidate_weight == 0
    assert follow.sim.status.rejected_digest == V2.digest
    # A newer passing training is tried.
    follow.trainings.append(trained(V3, 9))
    follow.tick()
    assert follow.sim.status.phase == "Progressing" and follow.sim.status.candidate == V3


def test_without_a_stable_the_newest_passing_training_becomes_the_first_stable() -> None:
    spec = make_spec(candidate=FOLLOW)
    trainings = [STABLE, trained(V2, 5), trained(V3, 9, phase="Failed")]
    choice = choose(spec, ModelReleaseStatus(), trainings, None)
    sim = Simulation(spec, ModelReleaseStatus(), candidate=choice.resolution)
    sim.tick()
    assert sim.status.stable == V2 and sim.status.phase == "Pending"
    assert skipped(choice)["v3"] == "Failed"
