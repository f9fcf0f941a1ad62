"""A ModelTraining's standard conditions, from its phase.

| phase | Ready | Reconciling | Stalled |
| --- | --- | --- | --- |
| Pending, Running | False | True | False |
| Succeeded | True | False | False |
| Rejected, Failed | False | False | True |

A Rejected or Failed training never changes again (its spec is immutable): only a new
training gets a model through, so both stall rather than fail quietly as "not ready".
"""

from __future__ import annotations

from ..api.training import ModelTrainingStatus, TrainingPhase
from ..readiness import Readiness, State

STATES: dict[TrainingPhase, State] = {
    "Pending": "Reconciling",
    "Running": "Reconciling",
    "Succeeded": "Ready",
    "Rejected": "Stalled",
    "Failed": "Stalled",
}


def readiness(status: ModelTrainingStatus) -> Readiness:
    """Pending "waiting for the training pod" → Reconciling, "Pending: waiting for ..."."""
    state = STATES[status.phase]
    message = status.message or status.phase
    if state == "Reconciling":
        message = f"{status.phase}: {message}"
    return Readiness(state, status.phase, message)
