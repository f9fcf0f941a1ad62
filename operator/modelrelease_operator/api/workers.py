"""spec.workers: a training spread over N pods (docs/trainings.md#distributed-training)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

#: Pods of one distributed training; their hostnames `<job>-<index>` must stay DNS labels.
MAX_WORKERS = 64

WORKERS_FIELD: Any = Field(
    1,
    ge=1,
    le=MAX_WORKERS,
    description="Pods that train together with XGBoost's collective, each on its share of "
    "the rows; each pod gets spec.resources (with GPUs: one each). 1 trains in one pod.",
)

_GPU_MESSAGE = "spec.workers: a distributed GPU training uses one GPU per worker (resources.gpu 1)"
_TUNING_MESSAGE = "spec.workers: a tuning search trains each trial in one pod (workers 1)"

#: The same rules as check_workers, for the API server.
WORKERS_RULES = (
    (
        "!has(self.workers) || self.workers == 1 || !has(self.resources) || "
        "self.resources.gpu <= 1",
        _GPU_MESSAGE,
    ),
    ("!has(self.workers) || self.workers == 1 || !has(self.tuning)", _TUNING_MESSAGE),
)


def check_workers(workers: int, gpu: int, tuning: object | None) -> None:
    """XGBoost gives each worker one device; a search's trials are single-pod Jobs."""
    if workers > 1 and gpu > 1:
        raise ValueError(_GPU_MESSAGE)
    if workers > 1 and tuning is not None:
        raise ValueError(_TUNING_MESSAGE)
