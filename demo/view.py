"""The live view of a release: a pure function from what the cluster shows to a rich
renderable, redrawn by story.py every second."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelrelease_operator.release.durations import parse_duration
from rich.console import Group
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

VERDICT_STYLE = {"Pass": "green", "Fail": "bold red", "Inconclusive": "yellow"}
PHASE_STYLE = {
    "Succeeded": "bold green",
    "RolledBack": "bold red",
    "Failed": "bold red",
    "Paused": "yellow",
    "Progressing": "cyan",
}


@dataclass(frozen=True)
class Seen:
    release: dict[str, Any]
    events: Sequence[tuple[str, str, str, str]]  # (time, type, object, "reason: message")
    answers: dict[str, int]  # the last 10 s of traffic, by version ("error": failures)
    now: datetime


def _stage_rows(spec: dict[str, Any], status: dict[str, Any], now: datetime) -> Table:
    table = Table.grid(padding=(0, 2))
    index = status.get("stageIndex", -1)
    phase = status.get("phase", "Pending")
    window = (status.get("window") or {}).get("startedAt")
    for position, stage in enumerate(spec.get("stages", [])):
        seconds = parse_duration(stage["duration"]).total_seconds()
        if phase == "Succeeded" or position < index:
            done, note = seconds, "done"
        elif position == index and window:
            started = datetime.fromisoformat(window)
            done = min(seconds, max(0.0, (now - started).total_seconds()))
            note = f"{done:.0f}s / {seconds:.0f}s"
        else:
            done, note = 0.0, "waiting"
        if position == index and phase in ("RolledBack", "Failed"):
            note = phase
        bar = ProgressBar(total=seconds, completed=done, width=30)
        table.add_row(f"stage {position + 1}", f"{stage['weight']:>3}%", bar, note)
    return table


def _gates(status: dict[str, Any]) -> Table:
    table = Table(title="gates (last check)", title_justify="left", expand=False)
    for column in ("gate", "verdict", "value", "threshold", "samples"):
        table.add_column(column)
    for gate in status.get("gates", []):
        value = gate.get("value")
        threshold = gate.get("threshold")
        table.add_row(
            gate["name"],
            Text(gate["verdict"], style=VERDICT_STYLE.get(gate["verdict"], "")),
            "" if value is None else f"{value:.4g}",
            "" if threshold is None else f"{threshold:.4g}",
            str(gate.get("samples", "")),
        )
    return table


def render(seen: Seen) -> Panel:
    release = seen.release
    spec, status = release.get("spec", {}), release.get("status") or {}
    phase = status.get("phase", "Pending")
    header = Text.assemble(
        (f"{release['metadata']['name']}  ", "bold"),
        (phase, PHASE_STYLE.get(phase, "")),
        f"   stage {status.get('stage') or '-'}   weight {status.get('candidateWeight', 0)}%",
        f"   stable {status.get('stableVersion') or '-'}",
        f"   candidate {status.get('candidateVersion') or '-'}",
    )
    parts: list[Any] = [header, Text(status.get("message", ""), style="dim"), Text()]
    parts.append(_stage_rows(spec, status, seen.now))
    failed = status.get("failedGate")
    if failed:
        parts.append(
            Text(f"rolled back by {failed['name']}: {failed.get('message', '')}", style="bold red")
        )
    parts.append(_gates(status))
    answered = sum(seen.answers.values())
    if answered:
        shares = ", ".join(f"{v} {n / answered:.0%}" for v, n in sorted(seen.answers.items()))
        parts.append(Text(f"traffic through the Service, last 10 s: {answered} answers ({shares})"))
    events = Table(title="events", title_justify="left", show_header=False, box=None)
    for when, kind, obj, text in list(seen.events)[-8:]:
        events.add_row(when, Text(kind, style="red" if kind == "Warning" else "dim"), obj, text)
    parts.append(events)
    return Panel(Group(*parts), title="modelrelease demo", subtitle=seen.now.strftime("%H:%M:%S"))


def utc_now() -> datetime:
    return datetime.now(UTC)
