"""Training on N workers with XGBoost's own collective (rabit over TCP).

Every worker reads the whole table, so that all of them derive the same categories and
the same train/validation/test split from the seed; each then trains on rows
`rank::workers` of the train split (already shuffled by the split) and evaluates on the
same slice of the validation split. XGBoost allreduces the histograms and the evaluation
metrics, so every worker grows the same trees and stops early at the same round. Rank 0
hosts the tracker, and alone evaluates on the test split and writes the artifact.

The rank comes from JOB_COMPLETION_INDEX, which Kubernetes sets in an Indexed Job's pods.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb
from xgboost import collective
from xgboost.tracker import RabitTracker

from .config import Distributed, TrainerConfig
from .errors import TrainerError

RANK_ENV = "JOB_COMPLETION_INDEX"
#: Connection attempts to the tracker; XGBoost sleeps 2·attempt seconds between them, so
#: 10 attempts wait about 90 s for rank 0 to come up.
CONNECT_RETRIES = 10

MatrixOf = Callable[[np.ndarray, np.ndarray], xgb.DMatrix]


@dataclass
class Worker:
    """This process's place among the workers."""

    rank: int
    settings: Distributed
    tracker: RabitTracker | None = None

    @property
    def world(self) -> int:
        return self.settings.workers

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def shard(self, rows: np.ndarray) -> np.ndarray:
        return rows[self.rank :: self.world]


def _free(tracker: RabitTracker) -> None:
    # A tracker whose workers never came reports a failed accept when freed; the
    # trainer has already said what went wrong.
    with contextlib.suppress(xgb.core.XGBoostError):
        tracker.free()


def join(config: TrainerConfig) -> Worker | None:
    """This worker, or None for a single-process training. Rank 0 starts the tracker
    first of all, so that the others find it while everyone loads the data."""
    settings = config.distributed
    if settings is None:
        return None
    raw = os.environ.get(RANK_ENV, "")
    try:
        rank = int(raw)
    except ValueError:
        raise TrainerError(f"distributed: {RANK_ENV} is {raw!r}, not a worker index") from None
    if not 0 <= rank < settings.workers:
        raise TrainerError(f"distributed: rank {rank} outside 0..{settings.workers - 1}")
    worker = Worker(rank, settings)
    if worker.leader:
        tracker = RabitTracker(
            n_workers=settings.workers,
            host_ip=settings.bind_host,
            port=settings.tracker_port,
            # Ranks follow the zero-padded task ids, i.e. the Job's completion indexes.
            sortby="task",
            timeout=settings.timeout_seconds,
        )
        tracker.start()
        atexit.register(_free, tracker)
        worker.tracker = tracker
    return worker


def _resolve(host: str, deadline: float) -> str:
    """The tracker's address; rank 0's DNS name appears only once its pod has an IP."""
    while True:
        try:
            return str(socket.getaddrinfo(host, None, socket.AF_INET)[0][4][0])
        except socket.gaierror as error:
            if time.monotonic() > deadline:
                raise TrainerError(f"distributed: cannot resolve tracker {host}: {error}") from None
            time.sleep(1)


@contextlib.contextmanager
def communicator(worker: Worker) -> Iterator[None]:
    settings = worker.settings
    address = _resolve(settings.tracker_host, time.monotonic() + settings.timeout_seconds)
    with collective.CommunicatorContext(
        dmlc_tracker_uri=address,
        dmlc_tracker_port=settings.tracker_port,
        dmlc_task_id=f"{worker.rank:03d}",
        dmlc_retry=CONNECT_RETRIES,
        dmlc_timeout=settings.timeout_seconds,
    ):
        if collective.get_rank() != worker.rank or collective.get_world_size() != worker.world:
            raise TrainerError(
                f"distributed: the tracker made worker {worker.rank} rank "
                f"{collective.get_rank()} of {collective.get_world_size()}"
            )
        yield


def train(
    worker: Worker | None,
    params: dict[str, Any],
    rounds: int,
    patience: int,
    whole: tuple[xgb.DMatrix, xgb.DMatrix],
    matrix: MatrixOf,
    train_rows: tuple[np.ndarray, np.ndarray],
    validation_rows: tuple[np.ndarray, np.ndarray],
) -> xgb.Booster:
    """The booster, trained alone on `whole` (train, validation) or, with the other
    workers, on this worker's shard of the rows."""

    def fit(dtrain: xgb.DMatrix, dval: xgb.DMatrix) -> xgb.Booster:
        return xgb.train(
            params,
            dtrain,
            num_boost_round=rounds,
            evals=[(dval, "validation")],
            early_stopping_rounds=patience,
            verbose_eval=False,
        )

    if worker is None:
        return fit(*whole)
    with communicator(worker):
        # Built inside the collective: XGBoost agrees on the columns across workers.
        dtrain = matrix(*(worker.shard(part) for part in train_rows))
        dval = matrix(*(worker.shard(part) for part in validation_rows))
        booster = fit(dtrain, dval)
    if worker.tracker is not None:
        worker.tracker.wait_for(worker.settings.timeout_seconds)
    return booster


def summary(worker: Worker, booster: xgb.Booster, train_rows: int) -> dict[str, Any]:
    """What a worker other than rank 0 reports: rank 0's termination message is the
    training's result, so this one only says the worker took part."""
    return {
        "rank": worker.rank,
        "workers": worker.world,
        "bestIteration": booster.best_iteration,
        "rows": {"train": len(range(worker.rank, train_rows, worker.world))},
    }
