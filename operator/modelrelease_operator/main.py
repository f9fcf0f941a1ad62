"""The operator's entry point: `kopf run -m modelrelease_operator.main`.

Importing this module registers every handler and the operator-wide settings.

With `MODELRELEASE_LEADER_ELECTION=true` (the Deployment's setting) only the replica that
holds the Lease acts (leader.py); the others watch, keep the release schedule, and stand
by. `/healthz` (`kopf run --liveness=...`) fails when a periodic loop or the lease's
loop has stopped completing passes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import click
import kopf
import kubernetes

from . import kube, leader
from .api import GROUP, VERSION
from .config import from_environment
from .handlers import (
    release,  # noqa: F401  (registers the ModelRelease handlers)
    release_metrics,
    resync,
    training,  # noqa: F401  (registers the ModelTraining handlers)
)
from .handlers.resync import PERIODIC, Logger, run_forever

CONFIG = from_environment()


def kopf_scope_problem(
    watched: tuple[str, ...], clusterwide: bool, namespaces: tuple[str, ...]
) -> str | None:
    """Why Kopf's scope (`kopf run --all-namespaces`, or its `--namespace`s) is not the
    operator's own (MODELRELEASE_WATCH_NAMESPACES, which its own listings use), or None.
    A namespaced install grants nothing outside the namespaces it names, so each side
    would fail where the other went."""
    if not watched and clusterwide:
        return None
    if watched and not clusterwide and sorted(set(namespaces)) == sorted(watched):
        return None
    given = "--all-namespaces" if clusterwide else " ".join(f"--namespace={n}" for n in namespaces)
    wanted = " ".join(f"--namespace={n}" for n in watched) or "--all-namespaces"
    setting = ",".join(watched) or "(unset: every namespace)"
    return (
        f"kopf run {given} does not watch what MODELRELEASE_WATCH_NAMESPACES={setting} says:"
        f" run kopf run {wanted} (one --namespace=NAME each, no patterns)"
    )


def _check_kopf_run() -> None:
    """Under `kopf run`, refuse to start with another scope than the operator's (its
    options, as Kopf reads them: KOPF_RUN_NAMESPACE adds a namespace)."""
    context = click.get_current_context(silent=True)
    if context is None or context.info_name != "run" or "clusterwide" not in context.params:
        return  # embedded (kopf.operator()): the startup check below still runs
    namespaces = tuple(str(n) for n in context.params.get("namespaces") or ())
    if os.environ.get("KOPF_RUN_NAMESPACE"):
        namespaces += (os.environ["KOPF_RUN_NAMESPACE"],)
    clusterwide = bool(context.params["clusterwide"])
    problem = kopf_scope_problem(CONFIG.watch_namespaces, clusterwide or not namespaces, namespaces)
    if problem is not None:
        raise click.UsageError(problem)


_check_kopf_run()
#: Created (and installed as the gate, closed until it first holds the Lease) on import,
#: before any loop or handler can ask whether to act; started at startup.
ELECTOR = leader.from_config(CONFIG) if CONFIG.leader_election else None
leader.install(ELECTOR)
LEASE_LOOP = "lease"


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
def watch_scope(settings: kopf.OperatorSettings, logger: Logger, **_: Any) -> None:
    """Kopf watches some namespaces exactly when the operator's own calls do (what
    `kopf run` was given is checked on import; this covers an embedded Kopf too)."""
    if bool(CONFIG.watch_namespaces) == settings.peering.clusterwide:
        raise kopf.PermanentError(
            "Kopf watches "
            + ("every namespace" if settings.peering.clusterwide else "some namespaces")
            + " but MODELRELEASE_WATCH_NAMESPACES is "
            + (",".join(CONFIG.watch_namespaces) or "unset (every namespace)")
        )
    if not CONFIG.watch_namespaces:
        return
    # Namespaced: Kopf would list and watch namespaces and CRDs, cluster-wide, to follow
    # them; it is not allowed to (docs/operations.md), and retries each refused listing
    # for a minute before it gives up. Off, it watches the namespaces named and the
    # resources its discovery finds now, so they must be served before it looks.
    settings.scanning.disabled = True
    for plural in ("modeltrainings", "modelreleases"):
        try:
            kube.custom().list_namespaced_custom_object(
                GROUP, VERSION, CONFIG.watch_namespaces[0], plural, limit=1
            )
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                raise kopf.TemporaryError(f"{plural}.{GROUP} is not served yet", delay=2) from None
            logger.warning("cannot list %s: %s %s", plural, error.status, error.reason)
    logger.info("watching only the namespaces %s", ", ".join(CONFIG.watch_namespaces))


@kopf.on.startup()
def elect(logger: Logger, **_: Any) -> None:
    """Start the lease's loop, and give it one attempt before Kopf's first listing, so a
    replica that may lead acts on it at once (a standby fills the schedule anyway)."""
    if ELECTOR is None:
        logger.info("leader election off: this process acts on everything (run one only)")
        return
    ELECTOR.start()
    ELECTOR.first_attempt.wait(ELECTOR.timing.renew_deadline)


async def _forget_metrics_when_standing_by() -> None:
    """A replica that lost the lease stops exporting the releases' gauges at once (its
    values would be stale, and summed with the leader's)."""
    while True:
        await asyncio.sleep(2.0)
        if not leader.acting():
            release_metrics.forget_all()


@kopf.on.startup()
async def start_periodic(memo: kopf.Memo, logger: Logger, **_: Any) -> None:
    memo.periodic = [
        asyncio.create_task(
            run_forever(seconds or CONFIG.resync_seconds, function, logger, leader.acting)
        )
        for seconds, function in PERIODIC
    ]
    memo.periodic.append(asyncio.create_task(_forget_metrics_when_standing_by()))


@kopf.on.cleanup()
async def stop_periodic(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.get("periodic", []):
        task.cancel()


@kopf.on.cleanup()
def step_down(**_: Any) -> None:
    """Stop acting and give the Lease up, so a standby leads at once."""
    if ELECTOR is not None:
        ELECTOR.stop(release=True)


def limits() -> dict[str, float]:
    """Seconds each loop may go without completing a pass before /healthz fails."""
    stale = CONFIG.liveness_stale_seconds
    found = {
        function.__name__: max(stale, 3 * (seconds or CONFIG.resync_seconds))
        for seconds, function in PERIODIC
    }
    if ELECTOR is not None:
        found[LEASE_LOOP] = max(stale, 3 * ELECTOR.timing.retry)
    return found


@kopf.on.probe(id="loops", errors=kopf.ErrorsMode.PERMANENT)
async def loops_live(**_: Any) -> dict[str, Any]:
    """The liveness check: every loop completed a pass lately (the release ticks, the
    training resync, and the lease's loop; a standby's loops complete theirs without
    acting). A loop that hangs fails it, and the kubelet restarts the container."""
    now = time.monotonic()
    last = dict(resync.LAST_PASS)
    if ELECTOR is not None:
        last[LEASE_LOOP] = ELECTOR.last_attempt
    late = resync.overdue(now, last, limits())
    if late:
        raise kopf.PermanentError(
            "no pass completed for "
            + ", ".join(f"{name} {seconds:.0f}s" for name, seconds in sorted(late.items()))
        )
    return {
        "leader": leader.acting(),
        "identity": ELECTOR.identity if ELECTOR is not None else None,
        "sinceLastPass": {name: round(now - at, 1) for name, at in sorted(last.items())},
    }
