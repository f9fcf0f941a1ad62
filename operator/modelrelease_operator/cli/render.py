"""What `kubectl modelrelease` prints: pure functions of the objects as read and the time.

Every function takes the releases and trainings as the API server returns them (camelCase
dicts) and `now`, so the same objects always print the same text, and the tests need no
cluster. Columns are aligned as kubectl aligns them (three spaces between columns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from ..api.release import GateStatus, ModelRef, ModelReleaseSpec, ModelReleaseStatus, ModelSource
from ..api.release_status import ROLLING
from ..release.durations import parse_duration
from ..release.stages import Plan, plan

Body = Mapping[str, Any]

FINAL = frozenset({"Succeeded", "RolledBack", "Failed"})
#: What a missing value prints as, so that columns stay readable.
NONE = "-"
#: History entries shown by `status`; status.history keeps up to spec.historyLimit.
HISTORY = 5
#: Gates whose value must reach the threshold rather than stay under it.
AT_LEAST = frozenset({"traffic", "accuracy"})
PAUSED_WHY = {
    "Manual": "by a pause command",
    "Spec": "spec.paused is true",
    "Stage": "the stage passed; waiting for promote",
    "Inconclusive": "a gate stayed inconclusive; waiting for a person",
    "Unavailable": "the metrics stayed unreadable; waiting for a person",
}


# -- small pieces ---------------------------------------------------------------------


def parse_time(stamp: str | None) -> datetime | None:
    """A Kubernetes timestamp ("2026-11-23T10:00:00Z"), or None when absent or unreadable."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None


def human_duration(delta: timedelta) -> str:
    """A duration as kubectl prints ages (apimachinery's HumanDuration): 90 s → "90s",
    5 m 30 s → "5m30s", 75 m → "75m", 3 h 20 m → "3h20m", 30 h → "30h", 3 d 5 h →
    "3d5h", 45 d → "45d", 800 d → "2y70d"."""
    seconds = int(delta.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y{rest}d" if rest else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(stamp: str | None, now: datetime) -> str:
    moment = parse_time(stamp)
    return human_duration(now - moment) if moment else NONE


def columns(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Rows as aligned lines, three spaces between columns (kubectl's tabwriter padding)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(rows[0]))]
    return [
        (
            indent + "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        ).rstrip()
        for row in rows
    ]


def _text(value: object) -> str:
    return NONE if value is None or value == "" else str(value)


def _number(value: float | None) -> str:
    if value is None:
        return NONE
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def _status(body: Body) -> Mapping[str, Any]:
    return body.get("status") or {}


# -- list -----------------------------------------------------------------------------


def release_table(releases: Sequence[Body], now: datetime) -> str:
    """`list`: the columns of `kubectl get mr`."""
    rows = [["NAME", "PHASE", "STAGE", "WEIGHT", "STABLE", "CANDIDATE", "AGE"]]
    for body in sorted(releases, key=lambda b: str(b["metadata"]["name"])):
        status = _status(body)
        rows.append(
            [
                body["metadata"]["name"],
                _text(status.get("phase")),
                _text(status.get("stage")),
                _text(status.get("candidateWeight")),
                _text(status.get("stableVersion")),
                _text(status.get("candidateVersion")),
                age(body["metadata"].get("creationTimestamp"), now),
            ]
        )
    if len(rows) == 1:
        return "No ModelReleases found."
    return "\n".join(columns(rows))


def serves(name: str, releases: Sequence[Body]) -> str:
    """Where the training `name` serves: "loan-default (stable)", or "-"."""
    roles = []
    for body in sorted(releases, key=lambda b: str(b["metadata"]["name"])):
        status = _status(body)
        for track in ("stable", "candidate", "previous"):
            if (status.get(track) or {}).get("training") == name:
                roles.append(f"{body['metadata']['name']} ({track})")
                break
        else:
            named = (body.get("spec", {}).get("candidate") or {}).get("training")
            if named == name:
                roles.append(f"{body['metadata']['name']} (candidate, not deployed)")
    return ", ".join(roles) or NONE


def training_table(trainings: Sequence[Body], releases: Sequence[Body], now: datetime) -> str:
    """`get trainings`: `kubectl get mt`'s columns, the model version, and where it serves."""
    rows = [["NAME", "PHASE", "MODEL", "VERSION", "METRIC", "SERVES", "AGE"]]
    for body in sorted(trainings, key=lambda b: str(b["metadata"]["name"])):
        status = _status(body)
        name = body["metadata"]["name"]
        rows.append(
            [
                name,
                _text(status.get("phase")),
                _text(body.get("spec", {}).get("modelName")),
                _text(status.get("modelVersion")),
                _text(status.get("headline")),
                serves(name, releases),
                age(body["metadata"].get("creationTimestamp"), now),
            ]
        )
    if len(rows) == 1:
        return "No ModelTrainings found."
    return "\n".join(columns(rows))


# -- status ---------------------------------------------------------------------------


def release_status(body: Body, trainings: Mapping[str, Body], now: datetime) -> str:
    """`status NAME`: where the release is, its versions, its stages as a tree with each
    gate's verdict, and what happened lately. `trainings` maps names to the ModelTrainings
    the release refers to (those not found are shown as such)."""
    spec = ModelReleaseSpec.model_validate(body["spec"])
    status = ModelReleaseStatus.model_validate(_status(body))
    meta = body["metadata"]
    lines = columns(
        [
            ["Name:", meta["name"]],
            ["Namespace:", _text(meta.get("namespace"))],
            ["Model:", spec.model_name],
            ["Phase:", _phase_line(status)],
            ["Message:", _text(status.message)],
            ["Age:", age(meta.get("creationTimestamp"), now)],
        ]
    )
    generation = meta.get("generation")
    seen = status.observed_generation
    if seen is not None and generation is not None and seen < generation:
        lines.append(
            f"            (the operator has not acted on generation {generation} yet; "
            f"this is what it made of generation {seen})"
        )
    lines += ["", "Versions:", *columns(_version_rows(spec, status, trainings), "  ")]
    lines += ["", _stages_title(spec, status), *_stage_tree(spec, status, now)]
    lines += _footer(status, now)
    return "\n".join(lines)


def _phase_line(status: ModelReleaseStatus) -> str:
    phase = status.phase
    where = ""
    if status.candidate is not None and phase in ROLLING:
        where = f"stage {status.stage}, {status.candidate_weight}% on {status.candidate.version}"
    if phase == "Progressing":
        return f"Progressing: {where}" if where else phase
    if phase == "Paused":
        why = PAUSED_WHY.get(status.paused_reason or "", "paused")
        return f"Paused ({why}): {where}" if where else f"Paused ({why})"
    if phase == "Succeeded" and status.stable is not None:
        return f"Succeeded: {status.stable.version} serves all traffic"
    if phase in {"RolledBack", "Failed"} and status.stable is not None:
        out = f"; {status.candidate.version} is out" if status.candidate else ""
        return f"{phase}: all traffic on {status.stable.version}{out}"
    return phase


def _training_cells(name: str | None, trainings: Mapping[str, Body]) -> list[str]:
    """TRAINING, ITS PHASE, METRIC for a model that came from `name` (or none)."""
    if name is None:
        return [NONE, NONE, NONE]
    found = trainings.get(name)
    if found is None:
        return [name, "(not found)", NONE]
    status = _status(found)
    return [name, _text(status.get("phase")), _text(status.get("headline"))]


def _version_rows(
    spec: ModelReleaseSpec, status: ModelReleaseStatus, trainings: Mapping[str, Body]
) -> list[list[str]]:
    rows = [["TRACK", "VERSION", "WEIGHT", "TRAINING", "TRAINING PHASE", "METRIC", "DIGEST"]]

    def deployed(track: str, ref: ModelRef, weight: str) -> None:
        rows.append(
            [track, ref.version, weight, *_training_cells(ref.training, trainings), _short(ref)]
        )

    def named(track: str, source: ModelSource, note: str) -> None:
        version = source.version
        if source.training is not None:
            found = _status(trainings.get(source.training) or {})
            version = version or found.get("modelVersion")
        rows.append([track, _text(version), note, *_training_cells(source.training, trainings)])

    candidate_weight = status.candidate_weight if status.candidate is not None else 0
    if status.stable is not None:
        deployed("stable", status.stable, f"{100 - candidate_weight}%")
    elif (source := spec.stable or spec.candidate) is not None:
        named("stable", source, "(to deploy)")
    if status.candidate is not None:
        deployed("candidate", status.candidate, f"{candidate_weight}%")
    elif (
        spec.candidate is not None
        and status.stable is not None
        and not _names(spec.candidate, status.stable)
    ):
        named("candidate", spec.candidate, "(waiting)")
    if status.previous is not None:
        deployed("previous", status.previous, "0%")
    return rows


def _names(source: ModelSource, ref: ModelRef) -> bool:
    """Whether the spec's source is the deployed model `ref`."""
    if source.training is not None:
        return source.training == ref.training
    return source.digest is not None and source.digest.removeprefix("sha256:") in ref.digest


def _short(ref: ModelRef) -> str:
    digest = ref.digest.removeprefix("sha256:")
    return f"sha256:{digest[:12]}"


def _stages_title(spec: ModelReleaseSpec, status: ModelReleaseStatus) -> str:
    analysis = spec.analysis
    facts = [f"checks every {analysis.interval}"]
    if status.phase in ROLLING:
        facts.append(f"{status.failed_checks} of {analysis.failure_limit} failed checks allowed")
    elif status.stage_index >= 0:
        facts.insert(0, "last rollout")
    return f"Stages ({'; '.join(facts)}):"


def _stage_tree(spec: ModelReleaseSpec, status: ModelReleaseStatus, now: datetime) -> list[str]:
    steps = plan(spec)
    rows = []
    for index, stage in enumerate(steps.stages):
        implied = steps.promotes_only(index)
        rows.append(
            [
                steps.label(index),
                f"{stage.weight}%",
                NONE if implied else stage.duration,
                "implied: promote" if implied else "pause" if stage.pause else "",
                _stage_state(index, steps, spec, status, now),
            ]
        )
    lines = columns(rows)
    out = []
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        out.append(f"  {'└──' if last else '├──'} {line}")
        if index == status.stage_index and status.gates:
            trunk = "    " if last else "│   "
            out += _gate_tree(status.gates, f"  {trunk}")
    return out


def _stage_state(
    index: int, steps: Plan, spec: ModelReleaseSpec, status: ModelReleaseStatus, now: datetime
) -> str:
    current = status.stage_index
    phase = status.phase
    if current < 0:
        return ""
    if index < current:
        return "done"
    if index > current:
        return "not reached" if phase in {"RolledBack", "Failed"} else ""
    if phase == "Succeeded":
        return "promoted"
    if phase == "RolledBack":
        return "rolled back here"
    if phase == "Failed":
        return "failed here"
    if phase == "Paused":
        return f"<- paused: {PAUSED_WHY.get(status.paused_reason or '', 'paused')}"
    if phase != "Progressing":
        return ""
    if status.stage_started_at is None:
        target = 100 if status.promoting_fully else steps.stages[index].weight
        return f"<- now: waiting for the candidate's pods before moving {target}% to it"
    if status.promoting_fully or steps.promotes_only(index):
        return "<- now: promoting"
    window = status.window
    opened = parse_time(window.started_at) if window else None
    if opened is None:
        return (
            f"<- now: {status.candidate_weight}% set "
            f"{age(status.stage_started_at, now)} ago; judging from the next check"
        )
    duration = parse_duration(steps.stages[index].duration)
    judged = now - opened
    left = duration - judged
    if left <= timedelta(0):
        return (
            f"<- now: judged for {human_duration(judged)}; time is up, "
            f"waiting for every gate to pass ({spec.analysis.inconclusive})"
        )
    return f"<- now: judged for {human_duration(judged)}, {human_duration(left)} left"


def _gate_tree(gates: Sequence[GateStatus], indent: str) -> list[str]:
    rows = [
        [
            gate.name,
            gate.verdict,
            _number(gate.value),
            _bound(gate),
            f"n={gate.samples}",
            gate.message if gate.verdict != "Pass" else "",
        ]
        for gate in gates
    ]
    lines = columns(rows)
    return [
        f"{indent}{'└──' if index == len(lines) - 1 else '├──'} {line}"
        for index, line in enumerate(lines)
    ]


def _bound(gate: GateStatus) -> str:
    if gate.threshold is None:
        return NONE
    if gate.name in AT_LEAST:
        word = "min"
    elif gate.name == "relative-error-rate":
        # The value is the test's p-value: it fails below alpha.
        word = "alpha"
    elif gate.name.startswith("custom:"):
        word = "bound"
    else:
        word = "max"
    return f"{word} {_number(gate.threshold)}"


def _footer(status: ModelReleaseStatus, now: datetime) -> list[str]:
    lines: list[str] = []
    facts = []
    if status.risk is not None:
        # The operator's message already leads with "risk check passed/failed:".
        said = status.risk.message.removeprefix("risk check ")
        if said == status.risk.message:
            said = f"{'passed' if status.risk.passed else 'failed'}: {said}"
        facts.append(["Risk check:", said])
    if status.failed_gate is not None:
        gate = status.failed_gate
        facts.append(
            [
                "Failed gate:",
                f"{gate.name} {gate.verdict} {_number(gate.value)} ({_bound(gate)}): "
                f"{gate.message}",
            ]
        )
    if status.health is not None:
        facts.append(["Health:", _health(status)])
    retraining = status.retraining
    if retraining is not None and (retraining.current or retraining.history):
        record = retraining.current or retraining.history[-1]
        when = "in flight" if retraining.current else "last"
        facts.append(
            [
                "Retraining:",
                f"{record.name} ({when}, {record.phase}; {record.trigger}: {record.reason}) "
                f"on {record.dataset_uri}",
            ]
        )
    if status.last_command is not None:
        last = status.last_command
        facts.append(
            [
                "Last command:",
                f"{last.command}, {age(last.time, now)} ago: {_text(last.result)}",
            ]
        )
    if facts:
        lines += ["", *columns(facts)]
    if status.history:
        shown = status.history[-HISTORY:]
        rows = [["AGE", "PHASE", "STAGE", "WEIGHT", "REASON", "MESSAGE"]]
        rows += [
            [age(h.time, now), h.phase, _text(h.stage), f"{h.weight}%", h.reason, h.message]
            for h in shown
        ]
        title = f"History (last {len(shown)} of {len(status.history)}):"
        lines += ["", title, *columns(rows, "  ")]
    return lines


def _health(status: ModelReleaseStatus) -> str:
    monitoring = status.monitoring
    if status.health == "Degraded" and monitoring and monitoring.failed_gate is not None:
        gate = monitoring.failed_gate
        return (
            f"Degraded: {gate.name} {_number(gate.value)} ({_bound(gate)}) since "
            f"{monitoring.degraded_since}"
        )
    return str(status.health)
