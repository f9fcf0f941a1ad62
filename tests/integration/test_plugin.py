"""`kubectl modelrelease` against the real control plane and the session's operator: what
it shows of a rollout, and each command carried out (or refused) the way a person would
give it.

The release rolls out two ModelTrainings whose pods kwok ends with a trainer's summary,
judged from a metrics address where nothing listens: no stage is ever judged, so each
phase holds until a command moves it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import kubernetes
import pytest
from modelrelease_operator.cli import plugin

from tests.controlplane.cluster import ControlPlane

from .running_operator import OperatorProcess
from .trainings import Trainings, artifact_store, cpu_training, ending
from .waiting import Waiter

GROUP, VERSION, PLURAL = "modelrelease.dev", "v1alpha1", "modelreleases"
RELEASE = "loan-default"
COMMAND = "modelrelease.dev/command"
#: Nothing listens here: the release gets no metrics and no stage is ever judged.
NO_METRICS = "http://127.0.0.1:9"
#: Seconds a command may wait for the operator (two busy shared cores).
ACT = "90"


def summary(name: str, roc_auc: float, seed: str) -> str:
    """The trainer's termination message for the training `name`."""
    return json.dumps(
        {
            "metrics": {"roc_auc": roc_auc, "log_loss": 0.3, "accuracy": 0.8},
            "artifactUri": f"s3://models/loan-default/{name}",
            "digest": "sha256:" + seed * 64,
        },
        separators=(",", ":"),
    )


def release_body() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRelease",
        "metadata": {"name": RELEASE},
        "spec": {
            "modelName": "loan-default",
            "stable": {"training": "loan-default-v1"},
            "candidate": {"training": "loan-default-v2"},
            "serving": {"replicas": 2},
            "stages": [
                {"weight": 50, "duration": "1h", "minRequests": 1},
                {"weight": 100, "duration": "1h", "minRequests": 1},
            ],
            "analysis": {
                "interval": "1s",
                "provider": {"type": "prometheus", "prometheus": {"address": NO_METRICS}},
            },
            "riskCheck": {"metrics": [{"metric": "roc_auc", "maxDegradation": 1.0}]},
        },
    }


class Release:
    """The release of one namespace, read and waited on through the API."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str, wait: Waiter) -> None:
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.namespace = namespace
        self.wait = wait

    def get(self) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, RELEASE
            ),
        )

    def status(self) -> dict[str, Any]:
        return dict(self.get().get("status") or {})

    def until(self, what: str, check: Any) -> dict[str, Any]:
        found: dict[str, Any] = self.wait.until(
            lambda: (s := self.status()) and check(s) and s, what=what, interval=0.2
        )
        return found


class Plugin:
    """`kubectl modelrelease …` as main() in this process, as the cluster's admin."""

    def __init__(
        self, kubeconfig: Path, namespace: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.prefix = ["--kubeconfig", str(kubeconfig), "-n", namespace]
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = plugin.main([*argv, *self.prefix])
        out = self.capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture
def rollout(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    operator: OperatorProcess,
) -> Release:
    """Trainings v1 and v2 trained, and the release rolling v2 out beside v1: stage 1/2,
    50% on the candidate, never judged."""
    artifact_store(kube_api, namespace)
    trainings = Trainings(kube_api, namespace, wait)
    for name, roc_auc, seed in (("loan-default-v1", 0.83, "a"), ("loan-default-v2", 0.84, "b")):
        trainings.create(
            ending(cpu_training(name), "succeed", message=summary(name, roc_auc, seed))
        )
    for name in ("loan-default-v1", "loan-default-v2"):
        trainings.wait_phase(name, "Succeeded")
    kubernetes.client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, release_body()
    )
    release = Release(kube_api, namespace, wait)
    release.until(
        "the rollout at 50%",
        lambda s: s.get("phase") == "Progressing" and s.get("candidateWeight") == 50,
    )
    return release


@pytest.fixture
def kubectl_modelrelease(
    control_plane: ControlPlane, namespace: str, capsys: pytest.CaptureFixture[str]
) -> Plugin:
    return Plugin(control_plane.admin_kubeconfig, namespace, capsys)


def words(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()]


def test_list_status_and_get_trainings_show_the_rollout(
    rollout: Release, kubectl_modelrelease: Plugin
) -> None:
    code, out, _ = kubectl_modelrelease("list")
    assert code == 0
    assert words(out)[1].split()[:6] == [
        RELEASE,
        "Progressing",
        "1/2",
        "50",
        "loan-default-v1",
        "loan-default-v2",
    ]

    code, out, _ = kubectl_modelrelease("status", RELEASE)
    assert code == 0, out
    shown = words(out)
    assert "Phase: Progressing: stage 1/2, 50% on loan-default-v2" in shown
    versions = [line for line in shown if line.startswith(("stable ", "candidate "))]
    assert [line.split()[:6] for line in versions] == [
        ["stable", "loan-default-v1", "50%", "loan-default-v1", "Succeeded", "roc_auc=0.8300"],
        ["candidate", "loan-default-v2", "50%", "loan-default-v2", "Succeeded", "roc_auc=0.8400"],
    ]
    stages = [line for line in shown if line.startswith(("├──", "└──"))]
    assert stages[0].startswith("├── 1/2 50% 1h <- now:"), stages
    assert stages[1] == "└── 2/2 100% 1h"
    assert any(
        line.endswith(
            "RolloutStarted candidate loan-default-v2 starts: deploying it for stage 1/2 (50%)"
        )
        for line in shown
    ), shown
    assert "Risk check: passed: roc_auc 0.84 vs stable 0.83 (not worse by 0.01, allowed 1)" in shown

    code, out, _ = kubectl_modelrelease("get", "trainings")
    assert code == 0
    rows = {line.split()[0]: line for line in words(out)[1:]}
    assert (
        "Succeeded loan-default loan-default-v1 roc_auc=0.8300 loan-default (stable)"
        in (rows["loan-default-v1"])
    )
    assert "loan-default (candidate)" in rows["loan-default-v2"]

    code, out, err = kubectl_modelrelease("status", "nope")
    assert (code, out) == (1, "")
    assert err == f'error: modelrelease "nope" not found in namespace "{rollout.namespace}"\n'


def test_each_command_is_carried_out_or_refused(
    rollout: Release, kubectl_modelrelease: Plugin
) -> None:
    def carried_out(*argv: str) -> str:
        code, out, err = kubectl_modelrelease(*argv, "--timeout", ACT)
        assert code == 0, (argv, out, err)
        # Sent as a command annotation, which the operator removed before acting.
        assert COMMAND not in (rollout.get()["metadata"].get("annotations") or {})
        return out

    def refused(*argv: str) -> str:
        before = rollout.get()
        code, out, err = kubectl_modelrelease(*argv, "--timeout", ACT)
        assert (code, out) == (1, ""), (argv, out, err)
        after = rollout.get()
        # Nothing was written: no command, no spec change (the operator's own status
        # writes go on meanwhile).
        assert COMMAND not in (after["metadata"].get("annotations") or {})
        assert after["metadata"]["generation"] == before["metadata"]["generation"]
        assert after["status"].get("lastCommand") == before["status"].get("lastCommand")
        return err

    out = carried_out("pause", RELEASE)
    assert out == f"{RELEASE}: paused (Paused, stage 1/2, 50%)\n"
    status = rollout.status()
    assert (status["phase"], status["pausedReason"]) == ("Paused", "Manual")
    assert status["lastCommand"]["command"] == "pause"
    assert "is already paused (by a pause command" in refused("pause", RELEASE)

    assert carried_out("resume", RELEASE) == f"{RELEASE}: resumed (Progressing, stage 1/2, 50%)\n"
    assert "is not paused (it is Progressing)" in refused("resume", RELEASE)

    # Held by spec.paused, as git would hold it: only `resume --spec` lets go.
    out = carried_out("pause", "--spec", RELEASE)
    assert out == f"{RELEASE}: spec.paused is true; Paused (Paused, stage 1/2, 50%)\n"
    body = rollout.get()
    assert body["spec"]["paused"] is True
    assert body["status"]["pausedReason"] == "Spec"
    assert "is held by spec.paused" in refused("resume", RELEASE)
    assert "spec.paused of loan-default is already true" in refused("pause", "--spec", RELEASE)
    out = carried_out("resume", "--spec", RELEASE)
    assert out.startswith(f"{RELEASE}: spec.paused is false; Progressing")
    assert rollout.get()["spec"]["paused"] is False

    out = carried_out("promote", RELEASE)
    assert out.startswith(f"{RELEASE}: promoted to the next stage (Progressing, stage 2/2")
    rollout.until("100% on the candidate", lambda s: s.get("candidateWeight") == 100)

    assert carried_out("abort", RELEASE) == f"{RELEASE}: aborted (RolledBack)\n"
    status = rollout.status()
    assert (status["phase"], status["candidateWeight"]) == ("RolledBack", 0)
    assert "no rollout in progress: loan-default is RolledBack" in refused("abort", RELEASE)
    assert "no rollout in progress" in refused("promote", RELEASE)

    # Pending, or already Progressing again by the time the plugin reads the answer.
    assert carried_out("retry", RELEASE).startswith(f"{RELEASE}: retrying (")
    rollout.until("the candidate started again", lambda s: s.get("phase") == "Progressing")
    carried_out("promote-full", RELEASE)
    status = rollout.until("the promotion", lambda s: s.get("phase") == "Succeeded")
    assert status["stableVersion"] == "loan-default-v2"
    err = refused("retry", RELEASE)
    assert err == (
        "error: retry loan-default: nothing to retry: loan-default is Succeeded "
        "(retry follows a rollback)\n"
    )


def test_kubectl_runs_the_plugin_and_status_watch_ends_with_the_release(
    rollout: Release,
    kubectl_modelrelease: Plugin,
    control_plane: ControlPlane,
    tmp_path: Path,
) -> None:
    """kubectl finds the console script on PATH and hands it its arguments; the
    connection comes from $KUBECONFIG."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(control_plane.admin_kubeconfig),
    }
    kubectl = [str(control_plane.bin_dir / "kubectl"), "modelrelease", "-n", rollout.namespace]
    listed = subprocess.run(
        [*kubectl, "list"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert words(listed.stdout)[1].startswith(f"{RELEASE} Progressing 1/2 50")

    log = tmp_path / "watch.log"
    with log.open("w") as sink:
        watching = subprocess.Popen(
            [*kubectl, "status", RELEASE, "-w", "--interval", "0.5"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            rollout.wait.until(lambda: "Phase:" in log.read_text(), what="a first rendering")
            assert watching.poll() is None, log.read_text()
            code, _, err = kubectl_modelrelease("promote-full", RELEASE, "--timeout", ACT)
            assert code == 0, err
            assert watching.wait(timeout=60) == 0, log.read_text()
        finally:
            if watching.poll() is None:
                watching.kill()
    shown = words(log.read_text())
    assert "Phase: Progressing: stage 1/2, 50% on loan-default-v2" in shown
    assert shown.count("Name: loan-default") >= 2
    assert "Phase: Succeeded: loan-default-v2 serves all traffic" in shown
