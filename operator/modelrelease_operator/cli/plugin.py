"""`kubectl modelrelease` (the `kubectl-modelrelease` console script): arguments, the
calls they make, and the exit code.

Exit codes: 0 done; 1 refused, ignored by the operator, not found, or (for `status -w`)
the release ended RolledBack or Failed; 2 bad arguments; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..api.release_status import ROLLING
from ..release.commands import COMMANDS
from . import commands, render
from .cluster import Cluster, ClusterError, connect

#: Seconds to wait for the operator to carry a command out, by default.
WAIT = 30.0
#: Seconds between reads while waiting or watching.
POLL = 0.5
CLEAR = "\x1b[H\x1b[2J"
TRAINING_NAMES = ("trainings", "training", "modeltrainings", "modeltraining", "mt")
RELEASE_NAMES = ("releases", "release", "modelreleases", "modelrelease", "mr")

HELP = {
    "promote": "move to the next stage now (from the last one: promote)",
    "promote-full": "straight to 100%% and promote, skipping the analysis",
    "pause": "hold the rollout where it is (gates keep judging)",
    "resume": "continue a paused rollout (also past a stage's pause)",
    "abort": "roll back now: all traffic back on stable",
    "retry": "try a rolled-back or failed candidate again",
    "retrain": "create a ModelTraining from spec.retraining now",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        connection = connect(args.kubeconfig, args.context)
        cluster = Cluster(connection.api, args.namespace or connection.namespace)
        run: Callable[[Cluster, argparse.Namespace], int] = args.run
        return run(cluster, args)
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def parser() -> argparse.ArgumentParser:
    # The connection options go before or after the subcommand, as with kubectl: the
    # subcommands' copies default to SUPPRESS so that they never undo the main ones.
    connection = argparse.ArgumentParser(add_help=False)
    _connection_options(connection, argparse.SUPPRESS)
    main = argparse.ArgumentParser(
        prog="kubectl modelrelease",
        description="Read and steer ModelReleases (docs/plugin.md).",
    )
    _connection_options(main, None)
    sub = main.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")

    listing = sub.add_parser("list", parents=[connection], help="the releases of a namespace")
    listing.set_defaults(run=_list)

    status = sub.add_parser(
        "status", parents=[connection], help="a release's stages, gates, versions and history"
    )
    status.add_argument("name")
    status.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="redraw on every change until interrupted or the release ends "
        "(exit 0 when Succeeded, 1 when RolledBack or Failed)",
    )
    status.add_argument("--interval", type=float, default=2.0, help="seconds between reads")
    status.set_defaults(run=_status)

    for command in COMMANDS:
        one = sub.add_parser(command, parents=[connection], help=HELP[command])
        one.add_argument("name")
        if command in {"pause", "resume"}:
            one.add_argument(
                "--spec",
                action="store_true",
                help="set spec.paused instead of sending a command (what holds until undone)",
            )
        one.add_argument(
            "--timeout",
            type=float,
            default=WAIT,
            help=f"seconds to wait for the operator to act (default {WAIT:g}; 0: do not wait)",
        )
        one.set_defaults(run=_command, command=command, spec=False)

    get = sub.add_parser("get", parents=[connection], help="list trainings (or releases)")
    get.add_argument("kind", choices=TRAINING_NAMES + RELEASE_NAMES, metavar="trainings")
    get.set_defaults(run=_get)
    return main


def _connection_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("-n", "--namespace", default=default, help="the namespace")
    parser.add_argument("--kubeconfig", default=default, help="kubeconfig file ($KUBECONFIG)")
    parser.add_argument("--context", default=default, help="kubeconfig context")


def _now() -> datetime:
    return datetime.now(UTC)


def _list(cluster: Cluster, args: argparse.Namespace) -> int:
    print(render.release_table(cluster.releases(), _now()))
    return 0


def _get(cluster: Cluster, args: argparse.Namespace) -> int:
    if args.kind in RELEASE_NAMES:
        return _list(cluster, args)
    print(render.training_table(cluster.trainings(), cluster.releases(), _now()))
    return 0


def _status(cluster: Cluster, args: argparse.Namespace) -> int:
    if not args.watch:
        body = cluster.release(args.name)
        print(render.release_status(body, cluster.trainings_of(body), _now()))
        return 0
    return watch(cluster, args.name, args.interval, sys.stdout.isatty())


def watch(cluster: Cluster, name: str, interval: float, terminal: bool) -> int:
    """Redraw `status` until the release ends. On a terminal the screen is redrawn
    whenever the text changes (the clocks in it move too); otherwise a new copy is
    printed only when the release or its trainings changed, so a log stays readable."""
    seen: tuple[str, ...] = ()
    shown = ""
    while True:
        body = cluster.release(name)
        trainings = cluster.trainings_of(body)
        text = render.release_status(body, trainings, _now())
        versions = (
            body["metadata"]["resourceVersion"],
            *sorted(t["metadata"]["resourceVersion"] for t in trainings.values()),
        )
        if terminal and text != shown:
            print(CLEAR + text, flush=True)
        elif not terminal and versions != seen:
            print(("\n" if seen else "") + text, flush=True)
        seen, shown = versions, text
        ended = _ended(body)
        if ended is not None:
            return 0 if ended == "Succeeded" else 1
        time.sleep(interval)


def _ended(body: dict[str, Any]) -> str | None:
    """The final phase, once the operator has seen the latest spec (a release that was
    Succeeded and just got a new candidate has not ended)."""
    status = body.get("status") or {}
    phase = status.get("phase")
    current = int(status.get("observedGeneration") or 0) >= int(body["metadata"]["generation"])
    return str(phase) if phase in render.FINAL and current else None


def _command(cluster: Cluster, args: argparse.Namespace) -> int:
    name, command = args.name, args.command
    body = cluster.release(name)
    sent = commands.plan(command, body, spec=args.spec)
    if isinstance(sent, commands.Refused):
        print(f"error: {command} {name}: {sent.reason}", file=sys.stderr)
        return 1
    before = (body.get("status") or {}).get("lastCommand")
    generation = 0
    if isinstance(sent, commands.Annotate):
        cluster.annotate(name, sent.command)
        what = f"{command} sent"
    else:
        generation = cluster.set_paused(name, sent.paused)
        what = f"spec.paused set to {str(sent.paused).lower()}"
    if args.timeout <= 0:
        print(f"{name}: {what}")
        return 0
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        time.sleep(POLL)
        body = cluster.release(name)
        answer = commands.outcome(sent, body, before=before, generation=generation)
        if answer is None:
            continue
        where = _where(body)
        if not answer.done:
            print(
                f"error: {command} {name}: the operator answered: {answer.message}", file=sys.stderr
            )
            return 1
        print(f"{name}: {answer.message} ({where})")
        return 0
    print(
        f"error: {command} {name}: {what}, but the operator has not acted on it within "
        f"{args.timeout:g}s; it will when it runs (see `kubectl modelrelease status {name}`)",
        file=sys.stderr,
    )
    return 1


def _where(body: dict[str, Any]) -> str:
    status = body.get("status") or {}
    phase = status.get("phase", "Pending")
    if phase in ROLLING:
        return f"{phase}, stage {status.get('stage')}, {status.get('candidateWeight', 0)}%"
    return str(phase)
