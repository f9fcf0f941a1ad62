"""A ModelRelease's standard conditions, from its phase.

| phase | Ready | Reconciling | Stalled |
| --- | --- | --- | --- |
| Pending, Progressing | False | True | False |
| Succeeded | True | False | False |
| Paused, RolledBack, Failed | False | False | True |

Ready means the desired state is reached: the candidate was promoted and serves all
traffic, or the stable serves it with no candidate to roll out. A Paused release waits
for a person (promote, resume, spec.paused back to false) and a RolledBack or Failed one
for a new candidate or `retry`: none of them moves on by itself, so all three stall —
which is what makes a Flux health check fail at once instead of timing out.
"""

from __future__ import annotations

from ..api.release import ModelReleaseStatus, ReleasePhase
from ..api.release_status import ROLLING
from ..readiness import Readiness, State

STATES: dict[ReleasePhase, State] = {
    "Pending": "Reconciling",
    "Progressing": "Reconciling",
    "Paused": "Stalled",
    "Succeeded": "Ready",
    "RolledBack": "Stalled",
    "Failed": "Stalled",
}


def where(status: ModelReleaseStatus) -> str:
    """The rollout's position, as Argo CD's health message gives it too:
    stage 2/4 at 25% on candidate v2 → "stage 2/4, 25% on v2"."""
    return (
        f"stage {status.stage or '?'}, {status.candidate_weight}% on "
        f"{status.candidate_version or 'the candidate'}"
    )


def readiness(status: ModelReleaseStatus) -> Readiness:
    """Progressing at stage 2/4 → Reconciling, "stage 2/4, 25% on v2: <status.message>"."""
    phase = status.phase
    state = STATES[phase]
    message = status.message or phase
    if phase in ROLLING:
        message = f"{where(status)}: {message}"
    elif phase == "Pending":
        message = f"Pending: {message}"
    reason = (
        f"Paused{status.paused_reason}" if phase == "Paused" and status.paused_reason else phase
    )
    return Readiness(state, reason, message)
