"""The plugin's arguments, exit codes and loops, against a make-believe cluster."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from modelrelease_operator.cli import plugin
from modelrelease_operator.cli.cluster import Cluster, ClusterError, connect

from .releases import TRAININGS, release, rolling


class FakeCluster:
    """Answers reads from a script of release bodies (the last one repeats) and records
    writes."""

    def __init__(self, *bodies: dict[str, Any]) -> None:
        self.bodies = list(bodies)
        self.writes: list[tuple[str, object]] = []

    def release(self, name: str) -> dict[str, Any]:
        if name != "loan-default":
            raise ClusterError(f'modelrelease "{name}" not found in namespace "ml"')
        return self.bodies.pop(0) if len(self.bodies) > 1 else self.bodies[0]

    def trainings_of(self, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return TRAININGS

    def annotate(self, name: str, command: str) -> None:
        self.writes.append(("annotate", command))

    def set_paused(self, name: str, paused: bool) -> int:
        self.writes.append(("paused", paused))
        return 3


def run(cluster: FakeCluster, *argv: str) -> int:
    args = plugin.parser().parse_args(argv)
    code: int = args.run(cast(Cluster, cluster), args)
    return code


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin, "POLL", 0.0)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["-n", "ml", "--context", "prod", "status", "loan-default"], id="before"),
        pytest.param(["status", "loan-default", "-n", "ml", "--context", "prod"], id="after"),
        pytest.param(["--context", "prod", "status", "-n", "ml", "loan-default"], id="mixed"),
    ],
)
def test_connection_options_go_before_or_after_the_subcommand(argv: list[str]) -> None:
    args = plugin.parser().parse_args(argv)
    assert (args.namespace, args.context, args.kubeconfig, args.name) == (
        "ml",
        "prod",
        None,
        "loan-default",
    )


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        plugin.main(["promote"])
    assert exited.value.code == 2
    assert "the following arguments are required: name" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        plugin.main(["abort", "--spec", "loan-default"])
    assert exited.value.code == 2


def test_a_refused_command_writes_nothing_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    cluster = FakeCluster(release({"phase": "Succeeded"}))
    assert run(cluster, "promote", "loan-default") == 1
    assert cluster.writes == []
    assert capsys.readouterr().err == (
        "error: promote loan-default: no rollout in progress: loan-default is Succeeded "
        "(the stable serves all traffic)\n"
    )


def test_a_command_waits_for_the_operator_and_prints_its_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sent = release(rolling())
    sent["metadata"]["annotations"] = {"modelrelease.dev/command": "promote"}
    done = release(
        rolling(
            stage="3/4",
            stageIndex=2,
            candidateWeight=50,
            lastCommand={
                "command": "promote",
                "time": "2026-11-23T10:12:01Z",
                "result": "promoted to the next stage",
            },
        )
    )
    cluster = FakeCluster(release(rolling()), sent, sent, done)
    assert run(cluster, "promote", "loan-default") == 0
    assert cluster.writes == [("annotate", "promote")]
    assert capsys.readouterr().out == (
        "loan-default: promoted to the next stage (Progressing, stage 3/4, 50%)\n"
    )


def test_a_command_the_operator_ignored_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    ignored = release(
        rolling(
            phase="RolledBack",
            lastCommand={
                "command": "pause",
                "time": "2026-11-23T10:12:01Z",
                "result": "ignored: no rollout in progress (RolledBack)",
            },
        )
    )
    cluster = FakeCluster(release(rolling()), ignored)
    assert run(cluster, "pause", "loan-default") == 1
    assert "the operator answered: ignored: no rollout in progress" in capsys.readouterr().err


def test_an_operator_that_does_not_answer_times_out(capsys: pytest.CaptureFixture[str]) -> None:
    cluster = FakeCluster(release(rolling()))
    assert run(cluster, "abort", "loan-default", "--timeout", "0.05") == 1
    assert "the operator has not acted on it within 0.05s" in capsys.readouterr().err


def test_no_wait_only_sends(capsys: pytest.CaptureFixture[str]) -> None:
    cluster = FakeCluster(release(rolling()))
    assert run(cluster, "abort", "loan-default", "--timeout", "0") == 0
    assert capsys.readouterr().out == "loan-default: abort sent\n"


def test_pause_with_spec_sets_spec_paused_and_waits_for_its_generation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    paused = release(
        rolling(phase="Paused", pausedReason="Spec", observedGeneration=3), paused=True
    )
    cluster = FakeCluster(release(rolling()), release(rolling()), paused)
    assert run(cluster, "pause", "--spec", "loan-default") == 0
    assert cluster.writes == [("paused", True)]
    assert capsys.readouterr().out == (
        "loan-default: spec.paused is true; Paused (Paused, stage 2/4, 25%)\n"
    )


@pytest.mark.parametrize(
    ("final", "code"),
    [("Succeeded", 0), ("RolledBack", 1), ("Failed", 1)],
)
def test_watch_prints_each_change_once_and_ends_with_the_release(
    final: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    first = release(rolling())
    again = copy.deepcopy(first)
    moved = release(rolling(stage="3/4", stageIndex=2, candidateWeight=50))
    moved["metadata"]["resourceVersion"] = "4243"
    ended = release({"phase": final, "observedGeneration": 2})
    ended["metadata"]["resourceVersion"] = "4244"
    cluster = FakeCluster(first, again, moved, ended)
    assert plugin.watch(cast(Cluster, cluster), "loan-default", 0, terminal=False) == code
    out = capsys.readouterr().out
    assert out.count("Name:        loan-default") == 3
    assert f"Phase:       {final}" in out


def test_watch_waits_for_the_operator_to_see_a_new_spec() -> None:
    """A Succeeded release that just got a new candidate has not ended."""
    stale = release({"phase": "Succeeded", "observedGeneration": 1}, generation=2)
    started = release(rolling(observedGeneration=2), generation=2)
    started["metadata"]["resourceVersion"] = "4243"
    done = release({"phase": "Succeeded", "observedGeneration": 2}, generation=2)
    done["metadata"]["resourceVersion"] = "4244"
    cluster = FakeCluster(stale, started, done)
    assert plugin.watch(cast(Cluster, cluster), "loan-default", 0, terminal=True) == 0
    assert cluster.bodies == [done]


def test_an_unknown_release_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ClusterError, match='modelrelease "nope" not found'):
        run(FakeCluster(release(rolling())), "status", "nope")


# -- kubeconfig, as kubectl reads it ----------------------------------------------------


def kubeconfig(path: Path, *contexts: tuple[str, str | None], current: str) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {
                "name": name,
                "context": {"cluster": "c", "user": "u", **({"namespace": ns} if ns else {})},
            }
            for name, ns in contexts
        ],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_namespace_comes_from_the_chosen_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = kubeconfig(tmp_path / "config", ("dev", "ml"), ("prod", None), current="dev")
    monkeypatch.setenv("KUBECONFIG", str(config))
    assert connect(None, None).namespace == "ml"
    assert connect(None, "prod").namespace == "default"
    other = kubeconfig(tmp_path / "other", ("dev", "team-b"), current="dev")
    assert connect(str(other), None).namespace == "team-b"


def test_a_missing_kubeconfig_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="cannot load kubeconfig"):
        connect(str(tmp_path / "missing"), None)
