"""Ready, Reconciling and Stalled for every phase of both kinds, as the docs tabulate them."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta

import pytest
from modelrelease_operator.api.release import ModelReleaseStatus, ReleasePhase
from modelrelease_operator.api.training import ModelTrainingStatus, TrainingPhase
from modelrelease_operator.readiness import Readiness, standard_conditions
from modelrelease_operator.release import readiness as release_readiness
from modelrelease_operator.training import readiness as training_readiness

from .gitops_docs import STANDARD, condition_table, health_table

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TRAINING_PHASES = typing.get_args(TrainingPhase)
RELEASE_PHASES = typing.get_args(ReleasePhase)


def decided(kind: str, phase: str) -> Readiness:
    if kind == "ModelTraining":
        return training_readiness.readiness(ModelTrainingStatus(phase=phase, message="m"))
    return release_readiness.readiness(ModelReleaseStatus(phase=phase, message="m"))


def written(readiness: Readiness, generation: int = 3) -> dict[str, str]:
    conditions = standard_conditions([], readiness, now=NOW, generation=generation)
    assert all(c.observed_generation == generation for c in conditions)
    return {c.type: c.status for c in conditions}


def test_the_gitops_table_has_every_phase_of_both_kinds_once() -> None:
    assert sorted(health_table()) == sorted(
        [("ModelTraining", p) for p in TRAINING_PHASES]
        + [("ModelRelease", p) for p in RELEASE_PHASES]
    )


@pytest.mark.parametrize(
    ("doc", "kind", "phases"),
    [
        pytest.param("trainings.md", "ModelTraining", TRAINING_PHASES, id="trainings.md"),
        pytest.param("releases.md", "ModelRelease", RELEASE_PHASES, id="releases.md"),
    ],
)
def test_each_kinds_page_agrees_with_the_gitops_table(
    doc: str, kind: str, phases: tuple[str, ...]
) -> None:
    table = condition_table(doc)
    assert sorted(table) == sorted(phases)
    health = health_table()
    for phase, row in table.items():
        assert {c: row[c] for c in STANDARD} == {c: health[(kind, phase)][c] for c in STANDARD}


@pytest.mark.parametrize(("kind", "phase"), sorted(health_table()))
def test_conditions_are_what_the_table_says(kind: str, phase: str) -> None:
    row = health_table()[(kind, phase)]
    conditions = written(decided(kind, phase))
    assert conditions == {c: row[c] for c in STANDARD}
    # Exactly one is True: done, on its way, or stuck.
    assert list(conditions.values()).count("True") == 1


def test_the_transition_time_moves_only_when_a_condition_flips() -> None:
    before = standard_conditions([], decided("ModelRelease", "Progressing"), now=NOW, generation=1)
    later = NOW + timedelta(minutes=5)
    same = standard_conditions(
        before, decided("ModelRelease", "Progressing"), now=later, generation=2
    )
    assert [c.last_transition_time for c in same] == [c.last_transition_time for c in before]
    assert all(c.observed_generation == 2 for c in same)
    done = standard_conditions(same, decided("ModelRelease", "Succeeded"), now=later, generation=2)
    moved = {c.type for c in done if c.last_transition_time != before[0].last_transition_time}
    assert moved == {"Ready", "Reconciling"}  # Stalled stayed False


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        pytest.param(
            ModelReleaseStatus(
                phase="Progressing",
                stage="2/4",
                candidate_weight=25,
                candidate_version="v2",
                message="stage 2/4: Pass, 30s left",
            ),
            "Progressing",
            "stage 2/4, 25% on v2: stage 2/4: Pass, 30s left",
            id="progressing-says-the-stage",
        ),
        pytest.param(
            ModelReleaseStatus(
                phase="Paused",
                paused_reason="Stage",
                stage="2/3",
                candidate_weight=50,
                candidate_version="v2",
                message="stage 2/3 passed; waiting for promote",
            ),
            "PausedStage",
            "stage 2/3, 50% on v2: stage 2/3 passed; waiting for promote",
            id="paused-says-why",
        ),
        pytest.param(
            ModelReleaseStatus(phase="Pending", message="waiting for ModelTraining v2 (Running)"),
            "Pending",
            "Pending: waiting for ModelTraining v2 (Running)",
            id="pending",
        ),
        pytest.param(
            ModelReleaseStatus(phase="RolledBack", message="gate drift failed: psi 0.41 > 0.2"),
            "RolledBack",
            "gate drift failed: psi 0.41 > 0.2",
            id="rolled-back",
        ),
        pytest.param(
            ModelReleaseStatus(phase="Succeeded"),
            "Succeeded",
            "Succeeded",
            id="no-message-says-the-phase",
        ),
    ],
)
def test_release_reason_and_message(status: ModelReleaseStatus, reason: str, message: str) -> None:
    found = release_readiness.readiness(status)
    assert (found.reason, found.message) == (reason, message)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        pytest.param(
            ModelTrainingStatus(phase="Running", message="training"),
            "Running: training",
            id="running",
        ),
        pytest.param(
            ModelTrainingStatus(phase="Rejected", message="quality gate failed: x"),
            "quality gate failed: x",
            id="rejected",
        ),
    ],
)
def test_training_reason_and_message(status: ModelTrainingStatus, message: str) -> None:
    found = training_readiness.readiness(status)
    assert (found.reason, found.message) == (status.phase, message)
