"""The three conditions that GitOps tools and waiters read: Ready, Reconciling, Stalled.

kstatus (the library behind Flux's health checks and kstatus-based waiters) looks at
Reconciling and Stalled first and at Ready after them, and counts a status observed for
an older generation as still in progress; `kubectl wait --for=condition=Ready` reads Ready
and skips it while its observedGeneration is behind. Each kind decides its `Readiness`
from its phase (`training/readiness.py`, `release/readiness.py`); this module only
writes it. Exactly one of the three is True at any time — a resource is done, on its way,
or stuck — and all three are always present, so that `--for=condition=Stalled=false`
works as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .api.common import Condition, set_condition

State = Literal["Ready", "Reconciling", "Stalled"]
STANDARD = ("Ready", "Reconciling", "Stalled")


@dataclass(frozen=True)
class Readiness:
    """Where a resource stands for a GitOps tool: which condition is True, and why."""

    state: State
    #: CamelCase, the same on all three conditions: the phase, or what holds it.
    reason: str
    message: str


def standard_conditions(
    conditions: list[Condition],
    readiness: Readiness,
    *,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """`conditions` with Ready, Reconciling and Stalled set from `readiness`."""
    for kind in STANDARD:
        conditions = set_condition(
            conditions,
            type=kind,
            status="True" if readiness.state == kind else "False",
            reason=readiness.reason,
            message=readiness.message,
            now=now,
            generation=generation,
        )
    return conditions
