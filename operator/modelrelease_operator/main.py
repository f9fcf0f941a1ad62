"""The operator's entry point: `kopf run -m modelrelease_operator.main`.

Importing this module registers every handler and the operator-wide settings.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from .config import from_environment
from .handlers import (
    release,  # noqa: F401  (registers the ModelRelease handlers)
    training,  # noqa: F401  (registers the ModelTraining handlers)
)
from .handlers.resync import PERIODIC, Logger, run_forever

CONFIG = from_environment()


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Without timeouts a watch stream can die silently and the operator goes deaf.
    settings.watching.server_timeout = CONFIG.watch_server_timeout
    settings.watching.client_timeout = CONFIG.watch_server_timeout + 60
    settings.watching.connect_timeout = 30
    # Progress lives in status.kopf (the CRDs leave room for it): annotations have a
    # size limit and would churn metadata.
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="modelrelease.dev", key="last-handled-configuration"
    )
    # The handlers post their own Events; kopf posts only its warnings and errors.
    settings.posting.level = logging.WARNING
    settings.execution.max_workers = 8


@kopf.on.startup()
async def start_periodic(memo: kopf.Memo, logger: Logger, **_: Any) -> None:
    memo.periodic = [
        asyncio.create_task(run_forever(seconds or CONFIG.resync_seconds, function, logger))
        for seconds, function in PERIODIC
    ]


@kopf.on.cleanup()
async def stop_periodic(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.get("periodic", []):
        task.cancel()
