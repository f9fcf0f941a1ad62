"""spec.retraining: when to create a new ModelTraining, and which.

Pure. A retraining is first decided into `status.retraining.current` (name, trigger,
dataset URI), then created by the handler from that record, so an operator killed in
between creates the same training on its next tick. At most one is in flight; its phase
is followed until it ends, then it moves to the bounded history. What it trains comes
back through `spec.candidate.fromTrainings` like any other training.

Triggers: `onDegraded` (monitoring found the stable Degraded, no rollout runs, and the
back-off since the last retraining ended has passed), `schedule` (each cron slot once;
a slot while one is in flight is skipped, as a CronJob with `concurrencyPolicy: Forbid`
would), and the `retrain` command (now, whatever the back-off).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import ValidationError

from ..api import GROUP, VERSION
from ..api.common import utc_timestamp
from ..api.release import ModelReleaseSpec
from ..api.release_status import ROLLING, RetrainingRecord, RetrainingStatus, RetrainingTrigger
from ..api.training import ModelTrainingSpec
from ..event import Event
from ..labels import RETRAINING_OF
from .durations import parse_duration
from .selectors import selects
from .transitions import Step

ENDED = frozenset({"Succeeded", "Rejected", "Failed"})


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None


def time_zone(spec: ModelReleaseSpec) -> ZoneInfo:
    assert spec.retraining is not None
    schedule = spec.retraining.triggers.schedule
    return ZoneInfo(schedule.time_zone if schedule else "UTC")


def training_name(release: str, sequence: int) -> str:
    return f"{release}-retrain-{sequence}"


def dataset_uri(
    template: str, *, now: datetime, zone: ZoneInfo, sequence: int, release: str
) -> str:
    """The template's dataset URI with {{date}}, {{timestamp}}, {{sequence}}, {{release}}."""
    values = {
        "{{date}}": now.astimezone(zone).strftime("%Y-%m-%d"),
        "{{timestamp}}": utc_timestamp(now).replace("-", "").replace(":", ""),
        "{{sequence}}": str(sequence),
        "{{release}}": release,
    }
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    return template


def training_spec(spec: ModelReleaseSpec, uri: str) -> dict[str, Any]:
    """The created training's spec: the template's, with the release's modelName and the
    rendered dataset URI."""
    assert spec.retraining is not None
    document = dict(spec.retraining.template.spec)
    document["modelName"] = spec.model_name
    dataset = dict(document.get("dataset") or {})
    dataset["uri"] = uri
    document["dataset"] = dataset
    return document


def problem(spec: ModelReleaseSpec, release: str) -> str | None:
    """Why spec.retraining cannot create anything, or None."""
    retraining = spec.retraining
    assert retraining is not None
    schedule = retraining.triggers.schedule
    if schedule is not None:
        try:
            ZoneInfo(schedule.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"spec.retraining.triggers.schedule.timeZone: unknown {schedule.time_zone!r}"
        if not croniter.is_valid(schedule.cron):
            return f"spec.retraining.triggers.schedule.cron: invalid {schedule.cron!r}"
    dataset = retraining.template.spec.get("dataset") or {}
    uri = str(dataset.get("uri") or "")
    if dataset.get("sha256") and "{{" in uri:
        return (
            "spec.retraining.template.spec.dataset.sha256: a pin of one file's bytes cannot "
            f"hold for a uri that changes with each retraining ({uri}); remove it"
        )
    try:
        ModelTrainingSpec.model_validate(training_spec(spec, uri))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"spec.retraining.template.spec.{where}: {first['msg']}"
    source = spec.candidate
    assert source is not None and source.from_trainings is not None
    labels = {**retraining.template.labels, RETRAINING_OF: release}
    if not selects(source.from_trainings, labels):
        return (
            "spec.retraining.template.labels: spec.candidate.fromTrainings does not select "
            "them, so a retrained model would never be rolled out"
        )
    return None


def manifest(
    spec: ModelReleaseSpec, record: RetrainingRecord, *, release: str, namespace: str, uid: str
) -> dict[str, Any]:
    """The ModelTraining a record stands for, owned by its release."""
    assert spec.retraining is not None
    template = spec.retraining.template
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelTraining",
        "metadata": {
            "name": record.name,
            "namespace": namespace,
            "labels": {**template.labels, RETRAINING_OF: release},
            "annotations": {
                **template.annotations,
                "modelrelease.dev/retraining-trigger": record.trigger,
            },
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "ModelRelease",
                    "name": release,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": training_spec(spec, record.dataset_uri),
    }


def track(step: Step, seen: tuple[str, str] | None) -> None:
    """Follow the retraining in flight (`seen`: its phase and message, None when it does
    not exist); when it ends, record why and how."""
    state = step.status.retraining
    if state is None or state.current is None:
        return
    current = state.current
    if seen is None:
        if current.phase == "Creating":
            return  # the handler creates it after this status is written
        _end(step, state, "Deleted", "the ModelTraining was deleted before it ended")
        return
    phase, message = seen
    if phase in ENDED:
        _end(step, state, phase, message)
    else:
        current.phase = phase


def _end(step: Step, state: RetrainingStatus, phase: str, message: str) -> None:
    current = state.current
    assert current is not None and step.spec.retraining is not None
    current.phase, current.message = phase, message[:300]
    state.history.append(current)
    del state.history[: -step.spec.retraining.history_limit]
    state.current = None
    state.last_ended_at = step.stamp
    stable = step.status.stable.version if step.status.stable else "(none)"
    if phase == "Succeeded":
        step.events.append(
            Event(
                "Normal",
                "RetrainingSucceeded",
                f"ModelTraining {current.name} passed its quality gate: "
                "spec.candidate.fromTrainings rolls it out",
            )
        )
        return
    why = f": {message}" if message else ""
    step.events.append(
        Event(
            "Warning",
            f"Retraining{phase}",
            f"ModelTraining {current.name} {phase}{why}; the release stays on stable {stable}"[
                :1000
            ],
        )
    )


def request(step: Step, release: str) -> str:
    """The `retrain` command: create one now unless one is in flight."""
    if step.spec.retraining is None:
        return "ignored: spec.retraining is not set"
    state = step.status.retraining
    if state is not None and state.current is not None:
        return f"ignored: {state.current.name} is in flight"
    blocked = problem(step.spec, release)
    if blocked:
        return f"ignored: {blocked}"
    name = _create(step, release, "Command", "on request")
    return f"created ModelTraining {name}"


def _schedule_due(step: Step, state: RetrainingStatus) -> bool:
    """Whether a cron slot came since the last look (and move the mark to now)."""
    retraining = step.spec.retraining
    assert retraining is not None
    schedule = retraining.triggers.schedule
    if schedule is None:
        return False
    checked = _parse(state.schedule_checked_at)
    if checked is None:
        # The first look only sets the mark: no slot before it is owed.
        state.schedule_checked_at = step.stamp
        return False
    zone = ZoneInfo(schedule.time_zone)
    slot: datetime = croniter(schedule.cron, checked.astimezone(zone)).get_next(datetime)
    if slot > step.now:
        return False
    # Slots missed while the operator was down are one retraining, not a burst.
    state.schedule_checked_at = step.stamp
    return True


def trigger(step: Step, release: str) -> None:
    """Create a retraining if a trigger asks for one now."""
    spec, status = step.spec, step.status
    retraining = spec.retraining
    if retraining is None or status.stable is None:
        return
    state = status.retraining = status.retraining or RetrainingStatus()
    blocked = problem(spec, release)
    if blocked:
        step.note(blocked)
        return
    scheduled = _schedule_due(step, state)
    if state.current is not None:
        if scheduled:
            step.events.append(
                Event(
                    "Normal",
                    "RetrainingSkipped",
                    f"schedule slot skipped: {state.current.name} is still in flight",
                )
            )
        return
    if scheduled:
        schedule = retraining.triggers.schedule
        assert schedule is not None
        _create(step, release, "Schedule", f"schedule {schedule.cron} ({schedule.time_zone})")
        return
    monitoring = status.monitoring
    if not retraining.triggers.on_degraded or monitoring is None or not monitoring.degraded:
        return
    if status.phase in ROLLING:
        return  # a candidate is already on its way in
    ended = _parse(state.last_ended_at)
    backoff = parse_duration(retraining.backoff)
    if ended is not None and step.now - ended < backoff:
        left = backoff - (step.now - ended)
        step.note(
            f"stable {monitoring.version} is Degraded; the next retraining may start in "
            f"{_minutes(left)} (backoff {retraining.backoff})"
        )
        return
    gate = monitoring.failed_gate
    why = f"{gate.name}: {gate.message}" if gate else "monitoring found it Degraded"
    _create(step, release, "Degraded", why)


def _minutes(left: timedelta) -> str:
    seconds = max(0, round(left.total_seconds()))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _create(step: Step, release: str, trigger: RetrainingTrigger, reason: str) -> str:
    retraining = step.spec.retraining
    assert retraining is not None
    state = step.status.retraining = step.status.retraining or RetrainingStatus()
    state.sequence += 1
    name = training_name(release, state.sequence)
    template_uri = str((retraining.template.spec.get("dataset") or {}).get("uri") or "")
    uri = dataset_uri(
        template_uri,
        now=step.now,
        zone=time_zone(step.spec),
        sequence=state.sequence,
        release=release,
    )
    state.current = RetrainingRecord(
        name=name,
        trigger=trigger,
        reason=reason[:300],
        created_at=step.stamp,
        dataset_uri=uri,
    )
    step.move(
        "retrain",
        step.status.phase,
        "RetrainingStarted",
        f"creating ModelTraining {name} on {uri} (trigger {trigger}: {reason})",
    )
    return name
