"""spec.retraining: triggers, one in flight, back-off, schedules in time zones, and the
training it creates; tick by tick with `decide`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from modelrelease_operator.api.release_status import RetrainingRecord
from modelrelease_operator.release import retraining

from .builders import V1, V2, Behaviour, Simulation, make_spec, ready, steady

FOLLOW: dict[str, Any] = {"fromTrainings": {"matchLabels": {"app": "loan"}}}
WATCH: dict[str, Any] = {
    "interval": "1m",
    "window": "3m",
    "failureLimit": 2,
    "gates": {"drift": {"maxPsi": 0.2, "minPredictions": 200}},
}
TRAINING_SPEC: dict[str, Any] = {
    "task": "binary",
    "dataset": {
        "uri": "s3://data/loan/{{date}}/part-{{sequence}}.parquet",
        "labelColumn": "default",
    },
    "artifacts": {"uri": "s3://models/loan-default", "credentialsSecret": "model-store"},
    "qualityGate": {"thresholds": [{"metric": "roc_auc", "min": 0.8}]},
}


def retrain(**overrides: Any) -> dict[str, Any]:
    return {
        "template": {"labels": {"app": "loan"}, "spec": TRAINING_SPEC},
        "backoff": "30m",
        **overrides,
    }


def loop(*, degrade: bool = True, **retraining_spec: Any) -> Simulation:
    """v1 serving alone, monitored, retraining on; its population shifted if `degrade`."""
    spec = make_spec(candidate=FOLLOW, monitoring=WATCH, retraining=retrain(**retraining_spec))
    sim = Simulation(spec, steady(), candidate=None)
    if degrade:
        sim.traffic.behaviours["v1"] = Behaviour(score_mean=0.65)
    return sim


def until_created(sim: Simulation, ticks: int = 60) -> RetrainingRecord:
    for _ in range(ticks):
        sim.tick()
        state = sim.status.retraining
        if state is not None and state.current is not None:
            return state.current
    raise AssertionError(f"no retraining created: {sim.status.message}")


def event_reasons(sim: Simulation) -> list[str]:
    return [e.reason for d in sim.decisions for e in d.events]


def test_degraded_creates_one_retraining_named_after_the_release_on_new_data() -> None:
    sim = loop()
    record = until_created(sim)
    assert sim.status.health == "Degraded"
    assert record.name == "loan-retrain-1" and record.trigger == "Degraded"
    assert record.phase == "Creating" and record.reason.startswith("drift: ")
    assert record.dataset_uri == f"s3://data/loan/{sim.now:%Y-%m-%d}/part-1.parquet"
    assert sim.status.history[-1].reason == "RetrainingStarted"
    assert event_reasons(sim)[-2:] == ["Degraded", "RetrainingStarted"]
    # Still degraded and still training: never a second one in flight.
    sim.retraining = ("Running", "")
    sim.run(20)
    state = sim.status.retraining
    assert state is not None and state.sequence == 1 and state.current is not None
    assert state.current.phase == "Running"


def test_a_rejected_retraining_keeps_the_release_degraded_then_backs_off() -> None:
    sim = loop()
    until_created(sim)
    sim.retraining = ("Rejected", "roc_auc=0.71 misses >= 0.8")
    decision = sim.tick()
    sim.retraining = None
    warning = next(e for e in decision.events if e.reason == "RetrainingRejected")
    assert warning.type == "Warning" and "roc_auc=0.71 misses" in warning.message
    assert "stays on stable v1" in warning.message
    state = sim.status.retraining
    assert state is not None and state.current is None
    assert [(r.name, r.phase) for r in state.history] == [("loan-retrain-1", "Rejected")]
    assert sim.status.health == "Degraded" and sim.status.stable == V1
    ended = sim.now
    second = until_created(sim, ticks=200)
    assert second.name == "loan-retrain-2"
    assert timedelta(minutes=30) <= sim.now - ended <= timedelta(minutes=31)


def test_a_deleted_retraining_ends_and_the_next_waits_for_the_backoff() -> None:
    sim = loop()
    until_created(sim)
    sim.retraining = None
    sim.tick()  # never seen yet: it is being created, not gone
    state = sim.status.retraining
    assert state is not None and state.current is not None
    sim.retraining = ("Pending", "")
    sim.tick()
    sim.retraining = None
    sim.tick()
    assert state is not None
    state = sim.status.retraining
    assert state is not None and state.current is None
    assert state.history[-1].phase == "Deleted"
    assert "backoff 30m" in sim.status.message


def test_a_succeeded_retraining_is_rolled_out_and_the_new_stable_is_healthy() -> None:
    sim = loop()
    until_created(sim)
    sim.retraining = ("Succeeded", "roc_auc=0.86")
    decision = sim.tick()
    assert "RetrainingSucceeded" in [e.reason for e in decision.events]
    # spec.candidate.fromTrainings now finds it: the next tick starts the rollout.
    sim.retraining = None
    new = V2.model_copy(update={"training": "loan-retrain-1"})
    sim.candidate = ready(new)
    sim.traffic.behaviours["v2"] = Behaviour(score_mean=0.3)
    sim.run(80, until={"Succeeded"})
    assert sim.status.phase == "Succeeded" and sim.status.stable == new
    sim.candidate = None
    sim.run(12)
    assert sim.status.health == "Healthy"
    state = sim.status.retraining
    assert state is not None and state.sequence == 1 and state.current is None


def test_on_degraded_off_creates_nothing() -> None:
    sim = loop(triggers={"onDegraded": False})
    sim.run(60)
    assert sim.status.health == "Degraded"
    assert sim.status.retraining is None or sim.status.retraining.current is None


def test_the_retrain_command_creates_one_now_and_refuses_a_second() -> None:
    sim = loop(degrade=False)
    sim.run(4)
    sim.tick(command="retrain")
    last = sim.status.last_command
    assert last is not None and last.result == "created ModelTraining loan-retrain-1"
    state = sim.status.retraining
    assert state is not None and state.current is not None
    assert state.current.trigger == "Command"
    sim.tick(command="retrain")
    last = sim.status.last_command
    assert last is not None and last.result == "ignored: loan-retrain-1 is in flight"


def test_the_retrain_command_without_retraining_is_ignored() -> None:
    sim = Simulation(make_spec(candidate=FOLLOW), steady(), candidate=None)
    sim.tick(command="retrain")
    last = sim.status.last_command
    assert last is not None and last.result == "ignored: spec.retraining is not set"


@pytest.mark.parametrize(
    ("zone", "fires_utc"),
    [
        ("Europe/Berlin", datetime(2026, 11, 24, 2, 0, tzinfo=UTC)),  # 03:00 CET
        ("America/New_York", datetime(2026, 11, 24, 8, 0, tzinfo=UTC)),  # 03:00 EST
        ("UTC", datetime(2026, 11, 24, 3, 0, tzinfo=UTC)),
    ],
)
def test_a_schedule_fires_once_per_slot_in_its_time_zone(zone: str, fires_utc: datetime) -> None:
    sim = loop(
        degrade=False,
        triggers={"onDegraded": False, "schedule": {"cron": "0 3 * * *", "timeZone": zone}},
    )
    created = []
    for _ in range(int(timedelta(hours=26) / timedelta(minutes=5))):
        sim.tick(seconds=300)
        state = sim.status.retraining
        if state is not None and state.current is not None:
            created.append((state.current.name, sim.now))
            sim.retraining = ("Succeeded", "")
            sim.tick(seconds=1)
            sim.retraining = None
    assert [name for name, _ in created] == ["loan-retrain-1"]
    assert fires_utc <= created[0][1] < fires_utc + timedelta(minutes=5)


def test_a_slot_while_one_is_in_flight_is_skipped() -> None:
    sim = loop(degrade=False, triggers={"onDegraded": False, "schedule": {"cron": "*/10 * * * *"}})
    until_created(sim, ticks=100)
    sim.retraining = ("Running", "")
    sim.run(60)
    assert "RetrainingSkipped" in event_reasons(sim)
    state = sim.status.retraining
    assert state is not None and state.sequence == 1


def test_missed_slots_while_the_operator_was_down_are_one_retraining() -> None:
    sim = loop(degrade=False, triggers={"onDegraded": False, "schedule": {"cron": "*/10 * * * *"}})
    sim.tick()
    sim.tick(seconds=3 * 3600)  # down for three hours: 18 slots
    state = sim.status.retraining
    assert state is not None and state.sequence == 1


def test_dataset_uri_dates_are_in_the_schedule_time_zone() -> None:
    late = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    uri = "s3://d/{{release}}/{{date}}/{{timestamp}}-{{sequence}}"
    assert retraining.dataset_uri(
        uri, now=late, zone=ZoneInfo("Asia/Tokyo"), sequence=4, release="loan"
    ) == ("s3://d/loan/2026-11-24/20261123T233000Z-4")
    assert retraining.dataset_uri(
        uri, now=late, zone=ZoneInfo("UTC"), sequence=4, release="loan"
    ) == ("s3://d/loan/2026-11-23/20261123T233000Z-4")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"template": {"labels": {"app": "other"}, "spec": TRAINING_SPEC}},
            "spec.retraining.template.labels: spec.candidate.fromTrainings does not select",
        ),
        (
            {"template": {"labels": {"app": "loan"}, "spec": {**TRAINING_SPEC, "task": "ranking"}}},
            "spec.retraining.template.spec.task:",
        ),
        (
            {"triggers": {"schedule": {"cron": "0 3 * * *", "timeZone": "Mars/Olympus"}}},
            "timeZone: unknown 'Mars/Olympus'",
        ),
        (
            {"triggers": {"schedule": {"cron": "0 25 * * *"}}},
            "schedule.cron: invalid '0 25 * * *'",
        ),
        (  # every retraining reads other bytes: the pin would fail each one
            {
                "template": {
                    "labels": {"app": "loan"},
                    "spec": {
                        **TRAINING_SPEC,
                        "dataset": {**TRAINING_SPEC["dataset"], "sha256": "a" * 64},
                    },
                }
            },
            "spec.retraining.template.spec.dataset.sha256: a pin of one file's bytes",
        ),
    ],
)
def test_a_template_that_cannot_work_creates_nothing_and_says_why(
    change: dict[str, Any], message: str
) -> None:
    sim = loop(**change)
    sim.run(40)
    assert sim.status.retraining is None or sim.status.retraining.current is None
    assert message in sim.status.message


def test_the_created_training_is_the_template_owned_by_the_release() -> None:
    spec = make_spec(candidate=FOLLOW, monitoring=WATCH, retraining=retrain())
    record = RetrainingRecord(
        name="loan-retrain-3",
        trigger="Schedule",
        created_at="2026-11-23T10:00:00Z",
        dataset_uri="s3://data/loan/2026-11-23/part-3.parquet",
    )
    manifest = retraining.manifest(spec, record, release="loan", namespace="ml", uid="u-1")
    meta = manifest["metadata"]
    assert meta["name"] == "loan-retrain-3" and meta["namespace"] == "ml"
    assert meta["labels"] == {"app": "loan", "modelrelease.dev/retraining-of": "loan"}
    assert meta["annotations"]["modelrelease.dev/retraining-trigger"] == "Schedule"
    [owner] = meta["ownerReferences"]
    assert owner["kind"] == "ModelRelease" and owner["uid"] == "u-1" and owner["controller"]
    assert manifest["spec"]["modelName"] == "loan-default"
    assert manifest["spec"]["dataset"] == {
        "uri": "s3://data/loan/2026-11-23/part-3.parquet",
        "labelColumn": "default",
    }
    assert TRAINING_SPEC["dataset"]["uri"].endswith("{{sequence}}.parquet")  # not mutated
