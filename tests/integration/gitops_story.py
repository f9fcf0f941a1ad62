"""The GitOps story the tests of test_gitops.py check: ModelTrainings and a ModelRelease
committed to "git" and driven through every phase, the GitOps way (commits) and by hand
(command annotations), with what each step left recorded in a `Story`.

"Git" is a set of manifests applied server-side as one field manager, as Flux and Argo
CD apply them; a stage is never judged (the release gets no metrics), so each phase holds
until a commit or a command moves it.
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes
import yaml

from .gitops import GITOPS_MANAGER, Background, Kubectl
from .running_operator import OperatorProcess
from .trainings import DELAY, MESSAGE, OUTCOME, example, run_trainer
from .waiting import Waiter

GROUP, VERSION = "modelrelease.dev", "v1alpha1"
COMMAND = "modelrelease.dev/command"
RELEASE = "loan-default"
#: Nothing listens here: the release never gets metrics, so no stage is ever judged and
#: each phase holds until a commit or a command moves it.
NO_METRICS = "http://127.0.0.1:9"


@dataclass(frozen=True)
class WaitRun:
    """How a `kubectl wait` ended."""

    code: int
    output: str
    seconds: float
    #: Whether it ended after the moment the story gave (a promotion).
    ended_after: bool


@dataclass
class Story:
    namespace: str
    #: (kind, phase) → the objects as read from the API server at that phase.
    captured: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    #: A release whose newest generation the operator had not seen yet.
    unobserved: dict[str, Any] = field(default_factory=dict)
    #: `kubectl wait` runs, by what they waited for.
    waits: dict[str, WaitRun] = field(default_factory=dict)
    #: Git applied again after each step: (step, exit code, output, generation before,
    #: generation after, spec changed).
    reapplied: list[tuple[str, int, str, int, int, bool]] = field(default_factory=list)
    #: The release's history reasons after the GitOps abort (a reverted candidate).
    abort_reasons: list[str] = field(default_factory=list)
    #: Objects the operator made, as read at the end.
    children: list[dict[str, Any]] = field(default_factory=list)
    #: The trainings and the release, as read at the end.
    finals: list[dict[str, Any]] = field(default_factory=list)
    #: Command annotations seen on the release once the operator acted on them.
    leftover_commands: list[str] = field(default_factory=list)


class Cluster:
    """The namespace as the story sees it: git, kubectl, reads, commands."""

    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        kubectl: Kubectl,
        namespace: str,
        wait: Waiter,
        story: Story,
    ) -> None:
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.apps = kubernetes.client.AppsV1Api(api)
        self.core = kubernetes.client.CoreV1Api(api)
        self.batch = kubernetes.client.BatchV1Api(api)
        self.kubectl = kubectl
        self.namespace = namespace
        self.wait = wait
        self.story = story
        #: What git holds: (kind, name) → manifest.
        self.git: dict[tuple[str, str], dict[str, Any]] = {}

    # git -------------------------------------------------------------------------------

    def _apply(self) -> subprocess.CompletedProcess[str]:
        documents = "---\n".join(yaml.safe_dump(m) for m in self.git.values())
        # No --force-conflicts: a field the operator had taken would be a conflict here.
        return self.kubectl.run(
            "apply",
            "--server-side",
            f"--field-manager={GITOPS_MANAGER}",
            "-n",
            self.namespace,
            "-f",
            "-",
            input=documents,
        )

    def commit(self, *manifests: dict[str, Any]) -> None:
        """Change git and sync, as the GitOps tool does after a commit."""
        for manifest in manifests:
            self.git[(manifest["kind"], manifest["metadata"]["name"])] = manifest
        done = self._apply()
        assert done.returncode == 0, f"git apply:\n{done.stdout}{done.stderr}"

    def sync_again(self, step: str) -> None:
        """The tool's next sync with git unchanged: must find nothing to change."""
        before = self.release()
        done = self._apply()
        after = self.release()
        self.story.reapplied.append(
            (
                step,
                done.returncode,
                done.stdout + done.stderr,
                before["metadata"]["generation"],
                after["metadata"]["generation"],
                before["spec"] != after["spec"],
            )
        )

    # reads -----------------------------------------------------------------------------

    def get(self, plural: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, name
        )
        return found

    def release(self) -> dict[str, Any]:
        return self.get("modelreleases", RELEASE)

    def until(self, plural: str, name: str, what: str, check: Any, timeout: float = 120) -> Any:
        def seen() -> dict[str, Any] | None:
            body = self.get(plural, name)
            return body if check(body.get("status") or {}) else None

        return self.wait.until(
            seen,
            what=f"{plural} {name}: {what}",
            timeout=timeout,
            interval=0.2,
        )

    def capture(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        phase = body["status"]["phase"]
        self.story.captured.setdefault((kind, phase), []).append(copy.deepcopy(body))
        return body

    def training_phase(self, name: str, phase: str, *, message: str = "") -> dict[str, Any]:
        body = self.until(
            "modeltrainings",
            name,
            f"phase {phase}",
            lambda s: s.get("phase") == phase and message in s.get("message", ""),
        )
        return self.capture("ModelTraining", body)

    def release_phase(self, phase: str, check: Any = None, *, capture: bool = True) -> Any:
        body = self.until(
            "modelreleases",
            RELEASE,
            f"phase {phase}",
            lambda s: s.get("phase") == phase and (check is None or check(s)),
        )
        return self.capture("ModelRelease", body) if capture else body

    # hand commands ---------------------------------------------------------------------

    def command(self, command: str) -> None:
        # Status times have whole seconds: anything from this second on is this command.
        issued = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.kubectl(
            "annotate",
            "-n",
            self.namespace,
            f"mr/{RELEASE}",
            f"{COMMAND}={command}",
            "--overwrite",
        )
        self.until(
            "modelreleases",
            RELEASE,
            f"command {command} carried out",
            lambda s: (
                (last := s.get("lastCommand") or {}).get("command") == command
                and last.get("time", "") >= issued
            ),
        )
        # The operator removed the annotation before acting on it.
        annotations = self.release()["metadata"].get("annotations") or {}
        if COMMAND in annotations:
            self.story.leftover_commands.append(annotations[COMMAND])

    def kubectl_wait(self, *args: str) -> Background:
        return self.kubectl.start("wait", "-n", self.namespace, *args)

    def record_wait(self, what: str, waiting: Background, after: float, timeout: float) -> None:
        code = waiting.finish(timeout)
        assert waiting.ended is not None
        self.story.waits[what] = WaitRun(
            code, waiting.output, waiting.ended - waiting.started, waiting.ended >= after
        )


def small_training(file: str, name: str) -> dict[str, Any]:
    """An example training, on less data so that the real trainer is quick."""
    manifest = example(file, name)
    manifest["spec"]["dataset"]["uri"] = manifest["spec"]["dataset"]["uri"].replace(
        "rows=20000", "rows=3000"
    )
    manifest["spec"]["hyperparameters"]["num_boost_round"] = 40
    return manifest


def ending(
    manifest: dict[str, Any], summary: dict[str, Any] | None, outcome: str | None, **extra: str
) -> dict[str, Any]:
    """How the training's pod ends (kwok), with the real trainer's summary as its
    termination message."""
    name = manifest["metadata"]["name"]
    annotations = manifest["spec"].setdefault("podAnnotations", {})
    if outcome:
        annotations[OUTCOME] = outcome
    if summary is not None:
        uri = f"s3://models/loan-default/{name}"
        annotations[MESSAGE] = json.dumps({**summary, "artifactUri": uri}, separators=(",", ":"))
    if "delay" in extra:
        annotations[DELAY] = extra["delay"]
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ModelTraining", **manifest}


def gate(manifest: dict[str, Any], roc_auc: float) -> dict[str, Any]:
    manifest["spec"]["qualityGate"] = {
        "thresholds": [{"metric": "roc_auc", "min": round(min(roc_auc, 0.999), 4)}]
    }
    return manifest


def release(candidate: str, *, paused: bool | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "modelName": "loan-default",
        "candidate": {"training": candidate},
        "serving": {"replicas": 2, "credentialsSecret": "model-store"},
        "stages": [
            {"weight": 50, "duration": "1h", "minRequests": 1},
            {"weight": 100, "duration": "1h", "minRequests": 1},
        ],
        "analysis": {
            "interval": "1s",
            "provider": {"type": "prometheus", "prometheus": {"address": NO_METRICS}},
        },
        "riskCheck": {"metrics": [{"metric": "roc_auc", "maxDegradation": 1.0}]},
    }
    if paused is not None:
        spec["paused"] = paused
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRelease",
        "metadata": {"name": RELEASE},
        "spec": spec,
    }


def tell(story: Story, cluster: Cluster, operator: OperatorProcess, workdir: Path) -> None:
    """Everything test_gitops.py checks, in the order a team would live it."""
    # The real trainer's results for the two models (and the rejected one's).
    v1 = small_training("training-loan-default.yaml", "loan-default-v1")
    v2 = small_training("training-loan-default-v2.yaml", "loan-default-v2")
    (workdir / "v1").mkdir()
    (workdir / "v2").mkdir()
    s1 = run_trainer(v1, workdir / "v1")
    s2 = run_trainer(v2, workdir / "v2")
    weak = copy.deepcopy(v2)
    weak["metadata"]["name"] = "loan-default-v2-weak"
    broken = small_training("training-loan-default.yaml", "broken")
    running = small_training("training-loan-default.yaml", "running")
    waiting_for_gpus = example("training-loan-default-gpu.yaml", "waiting-for-gpus")
    waiting_for_gpus["spec"]["resources"]["gpu"] = 2

    # First commit: the trainings, and the release naming v1 while it still trains.
    cluster.commit(
        ending(gate(v1, s1["metrics"]["roc_auc"] - 0.05), s1, "succeed", delay="4s"),
        ending(gate(v2, s2["metrics"]["roc_auc"] - 0.05), s2, "succeed", delay="4s"),
        ending(gate(weak, s2["metrics"]["roc_auc"] + 0.05), s2, "succeed"),
        ending(broken, None, "fail"),
        ending(running, None, None),
        ending(waiting_for_gpus, None, None),
        release("loan-default-v1"),
    )
    v2_ready = cluster.kubectl_wait("--for=condition=Ready", "mt/loan-default-v2", "--timeout=120s")
    cluster.release_phase("Pending", lambda s: "waiting for ModelTraining" in s.get("message", ""))
    cluster.training_phase("waiting-for-gpus", "Pending", message="pod unschedulable")
    cluster.training_phase("running", "Running")
    cluster.training_phase("loan-default-v1", "Succeeded")
    cluster.training_phase("loan-default-v2-weak", "Rejected")
    cluster.training_phase("broken", "Failed")
    cluster.record_wait("training Ready", v2_ready, 0.0, timeout=120)
    cluster.training_phase("loan-default-v2", "Succeeded")
    for what, condition in (("rejected Ready", "Ready"), ("rejected Stalled", "Stalled")):
        waiting = cluster.kubectl_wait(
            f"--for=condition={condition}", "mt/loan-default-v2-weak", "--timeout=3s"
        )
        cluster.record_wait(what, waiting, 0.0, timeout=30)

    # v1 trained: the release deploys it and settles on it.
    cluster.release_phase("Succeeded")
    cluster.sync_again("steady on v1")

    # Commit: candidate v2. kubectl wait starts at once, on the state before the commit.
    cluster.commit(release("loan-default-v2"))
    rollout_ready = cluster.kubectl_wait("--for=condition=Ready", f"mr/{RELEASE}", "--timeout=150s")
    cluster.release_phase("Progressing", lambda s: s.get("candidateWeight") == 50)
    cluster.sync_again("rolling out")
    # Pause and resume in git.
    cluster.commit(release("loan-default-v2", paused=True))
    cluster.release_phase("Paused", lambda s: s.get("pausedReason") == "Spec")
    cluster.command("resume")  # refused: git holds the release paused
    cluster.sync_again("paused in git")
    cluster.commit(release("loan-default-v2", paused=False))
    cluster.release_phase("Progressing", capture=False)
    # Pause and resume by hand: the annotation is gone once acted on; git sees no drift.
    cluster.command("pause")
    cluster.release_phase("Paused", lambda s: s.get("pausedReason") == "Manual")
    cluster.sync_again("paused by hand")
    cluster.command("resume")
    cluster.release_phase("Progressing", capture=False)
    # Promote by hand: kubectl wait returns only now.
    promoted_at = time.monotonic()
    cluster.command("promote-full")
    cluster.release_phase("Succeeded", lambda s: s.get("stableVersion") == "loan-default-v2")
    cluster.record_wait("rollout Ready", rollout_ready, promoted_at, timeout=60)
    cluster.sync_again("promoted")

    # Commit: back to v1 as a candidate; aborted by hand; kubectl wait times out.
    cluster.commit(release("loan-default-v1"))
    cluster.release_phase("Progressing", capture=False)
    rolled_back_ready = cluster.kubectl_wait(
        "--for=condition=Ready", f"mr/{RELEASE}", "--timeout=10s"
    )
    cluster.command("abort")
    cluster.release_phase("RolledBack")
    cluster.sync_again("rolled back")
    cluster.record_wait("rolled back Ready", rolled_back_ready, 0.0, timeout=60)

    # The GitOps abort: retry v1, then revert the commit that named it.
    cluster.command("retry")
    cluster.release_phase(
        "Progressing", lambda s: s.get("candidateVersion") == "loan-default-v1", capture=False
    )
    cluster.commit(release("loan-default-v2"))
    settled = cluster.release_phase(
        "Succeeded",
        lambda s: (
            [h["reason"] for h in s.get("history", [])][-2:]
            == ["CandidateWithdrawn", "StableReady"]
        ),
        capture=False,
    )
    story.abort_reasons = [h["reason"] for h in settled["status"]["history"]]
    cluster.sync_again("reverted")

    # Commit: the rejected training as candidate.
    cluster.commit(release("loan-default-v2-weak"))
    cluster.release_phase("Failed")
    cluster.sync_again("failed")

    # A commit the operator has not seen yet (it is down).
    operator.stop()
    try:
        cluster.commit(release("loan-default-v2-weak", paused=True))
        story.unobserved = cluster.release()
    finally:
        operator.start()
    cluster.until(
        "modelreleases",
        RELEASE,
        "the new generation observed",
        lambda s: s.get("observedGeneration") == story.unobserved["metadata"]["generation"],
    )

    selector = f"{GROUP}/release={RELEASE}"
    for listing in (
        cluster.apps.list_namespaced_deployment(cluster.namespace, label_selector=selector),
        cluster.core.list_namespaced_service(cluster.namespace, label_selector=selector),
        cluster.batch.list_namespaced_job(cluster.namespace),
    ):
        story.children += [
            kubernetes.client.ApiClient().sanitize_for_serialization(item) for item in listing.items
        ]
    story.finals = [
        cluster.get("modeltrainings", name) for kind, name in cluster.git if kind == "ModelTraining"
    ] + [cluster.release()]
