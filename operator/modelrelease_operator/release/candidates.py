"""Which ModelTraining `spec.candidate.fromTrainings` makes the candidate now.

Pure: the handler lists the trainings the selector matches (as `TrainingSeen`) and the
stable's training's creation time; `choose` returns the candidate as a `Resolution` for
`decide`, and `status.candidateSelection` saying what was chosen and why the others
were not. The rules, in order:

- only trainings of the release's `modelName` count;
- a Rejected, Failed or unfinished training is never chosen (Succeeded means its quality
  gate passed);
- nothing created before the stable's training (creation timestamps), nor the stable
  itself: following trainings never moves production backwards;
- of the rest the newest wins; if that one was rolled back (`status.rejectedDigest`) it
  is not tried again, and no older one is tried in its place either (it would be older
  than a model already judged worse): the release waits for a newer training;
- one rollout at a time: during a rollout a newer training waits for it to end
  (`Queue`), or takes its place (`Replace`).

Worked example, stable from t1, candidate t3 rolling out, t4 Succeeded, t5 Rejected:
Queue → chosen t3 ("rolling out; t4 queued"), skipped t5 (Rejected), t4 (queued);
Replace → chosen t4, skipped t5 (Rejected), t3 (replaced by the newer t4).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..api.release import (
    CandidateSelection,
    ModelRef,
    ModelReleaseSpec,
    ModelReleaseStatus,
)
from ..api.release_status import ROLLING, SKIPPED_LIMIT, SkippedTraining
from .seen import Resolution


@dataclass(frozen=True)
class TrainingSeen:
    """A ModelTraining as listed: what the choice needs of it."""

    name: str
    created: datetime
    model_name: str
    phase: str
    #: The deployable model once Succeeded with an artifact; else None.
    ref: ModelRef | None = None
    message: str = ""


@dataclass(frozen=True)
class Choice:
    #: What spec.candidate resolves to now; None: nothing to roll out.
    resolution: Resolution | None
    selection: CandidateSelection


def seen_from_object(obj: Mapping[str, Any]) -> TrainingSeen:
    """A listed ModelTraining object as the chooser sees it (the artifact only once the
    training Succeeded with a URI and a digest)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    found = obj.get("status") or {}
    name = str(meta.get("name", ""))
    phase = str(found.get("phase") or "Pending")
    artifact = found.get("artifact") or {}
    ref = None
    if phase == "Succeeded" and artifact.get("uri") and artifact.get("digest"):
        ref = ModelRef(
            version=found.get("modelVersion") or name,
            uri=artifact["uri"],
            digest=artifact["digest"],
            training=name,
            metrics=found.get("metrics"),
            reference=found.get("scoreReference"),
        )
    created = str(meta.get("creationTimestamp") or "1970-01-01T00:00:00Z")
    return TrainingSeen(
        name=name,
        created=datetime.fromisoformat(created.replace("Z", "+00:00")),
        model_name=str(spec.get("modelName", "")),
        phase=phase,
        ref=ref,
        message=str(found.get("message") or ""),
    )


def _unusable(training: TrainingSeen, model_name: str) -> str | None:
    """Why this training can never be the candidate, or None."""
    if training.model_name != model_name:
        return f"modelName {training.model_name}, not {model_name}"
    if training.phase == "Rejected":
        why = f": {training.message}" if training.message else ""
        return f"Rejected by its quality gate{why}"[:200]
    if training.phase == "Failed":
        return "Failed"
    if training.ref is None:
        return f"not finished ({training.phase})"
    return None


def choose(
    spec: ModelReleaseSpec,
    status: ModelReleaseStatus,
    trainings: Iterable[TrainingSeen],
    stable_created: datetime | None,
) -> Choice:
    """The candidate that spec.candidate.fromTrainings names now (see the module)."""
    assert spec.candidate is not None
    policy = spec.candidate.policy or "Queue"
    stable, current = status.stable, status.candidate
    rolling = status.phase in ROLLING and current is not None
    # Newest first; the name breaks ties so that the choice never flips between ticks.
    ordered = sorted(trainings, key=lambda t: (t.created, t.name), reverse=True)
    skipped: list[SkippedTraining] = []
    passing: list[TrainingSeen] = []
    for training in ordered:
        reason = _unusable(training, spec.model_name)
        if reason is None and stable is not None:
            assert training.ref is not None
            if training.ref.digest == stable.digest or training.name == stable.training:
                reason = "serves as the stable"
            elif stable_created is not None and training.created < stable_created:
                # Strictly older: creation times have whole seconds, and trainings
                # committed together must not hide each other.
                reason = f"older than the stable's training {stable.training}"
        if reason is None:
            passing.append(training)
        else:
            skipped.append(SkippedTraining(name=training.name, reason=reason))
    newest = passing[0] if passing else None
    running = next(
        (t for t in passing if rolling and current and t.ref and t.ref.digest == current.digest),
        None,
    )

    def done(chosen: TrainingSeen | None, reason: str, *also: SkippedTraining) -> Choice:
        names = {s.name for s in also}
        if chosen is not None:
            names.add(chosen.name)
        older = [
            SkippedTraining(name=t.name, reason=f"superseded by the newer {passing[0].name}")
            for t in passing
            if t.name not in names
        ]
        others = [*also, *older, *skipped]
        others.sort(key=lambda s: order.get(s.name, len(order)))
        selection = CandidateSelection(
            chosen=chosen.name if chosen else None,
            reason=reason,
            skipped=others[:SKIPPED_LIMIT],
        )
        if chosen is None or chosen.ref is None:
            return Choice(None, selection)
        return Choice(Resolution("Ready", chosen.ref, f"ModelTraining {chosen.name}"), selection)

    order = {t.name: i for i, t in enumerate(ordered)}
    if newest is None:
        return done(None, "no training matches that Succeeded and is newer than the stable")
    if running is not None and running is not newest:
        if policy == "Queue":
            queued = SkippedTraining(
                name=newest.name, reason=f"queued: waits for the rollout of {running.name}"
            )
            return done(
                running, f"rolling out; {newest.name} is next once it ends (policy Queue)", queued
            )
        replaced = SkippedTraining(
            name=running.name, reason=f"replaced by the newer {newest.name} (policy Replace)"
        )
        return done(newest, "the newest passing training (policy Replace)", replaced)
    assert newest.ref is not None
    if newest.ref.digest == status.rejected_digest and running is None:
        # Still handed to decide, which keeps it out (as for a `training:` candidate):
        # `retry` can then try it again, a newer training supersedes it.
        return done(
            newest,
            f"{newest.name} was rolled back or refused: not tried again; waiting for a newer "
            "training (or retry)",
        )
    return done(newest, "the newest training that Succeeded and is newer than the stable")
