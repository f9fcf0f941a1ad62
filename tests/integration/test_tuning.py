"""spec.tuning against the local control plane: 20 trials, 4 at a time, each a real Job
whose kwok pod ends with a trainer's termination message, and the operator SIGKILLed in
the middle of the search.

The test plays the trainer of every trial pod: it reads the configuration the operator
rendered into the pod (MODELRELEASE_TRAINER_CONFIG), computes the trial's roc_auc with
`trial_score` from the parameters in it, and annotates the pod so that kwok ends it with
that summary as its termination message. The rest of the summary comes from one real
trainer run, so the message has the trainer's exact shape; the value depends on the
parameters, so "keeps the best" means something.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import time
from typing import Any

import kubernetes
import pytest

from tests.controlplane.cluster import ControlPlane

from .running_operator import OperatorProcess
from .trainings import (
    DELAY,
    MESSAGE,
    OUTCOME,
    Trainings,
    cpu_training,
    run_trainer,
)

TRIALS, PARALLELISM = 20, 4
SPACE = {
    "max_depth": {"type": "int", "low": 2, "high": 10},
    "learning_rate": {"type": "float", "low": 0.01, "high": 0.5, "log": True},
    "grow_policy": {"type": "categorical", "choices": ["depthwise", "lossguide"]},
}
TRIAL_LABEL = "modelrelease.dev/trial"


def trial_score(params: dict[str, Any]) -> float:
    """The roc_auc a trial reports: highest (0.91) at max_depth 6, learning_rate 0.1 and
    lossguide, lower the farther the parameters are from there."""
    depth = -((params["max_depth"] - 6) ** 2) * 0.004
    rate = -((math.log10(params["learning_rate"]) + 1) ** 2) * 0.05
    policy = 0.01 if params["grow_policy"] == "lossguide" else 0.0
    return float(round(0.9 + depth + rate + policy, 6))


def tuning_training(name: str) -> dict[str, Any]:
    manifest = cpu_training(name)
    manifest["spec"]["tuning"] = {
        "parameters": SPACE,
        "trials": TRIALS,
        "parallelism": PARALLELISM,
        "objective": {"metric": "roc_auc", "direction": "maximize"},
        "sampler": "tpe",
        "seed": 3,
    }
    manifest["spec"]["qualityGate"] = {"thresholds": [{"metric": "roc_auc", "min": 0.5}]}
    manifest["spec"]["job"]["backoffLimit"] = 0
    return manifest


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real trainer's summary, on a small slice of the example's data."""
    manifest = cpu_training("trained")
    manifest["spec"]["dataset"]["uri"] = "builtin:loan-default?rows=2000&seed=7"
    manifest["spec"]["hyperparameters"]["num_boost_round"] = 50
    return run_trainer(manifest, tmp_path_factory.mktemp("trainer"))


def _config(pod: Any) -> dict[str, Any]:
    [container] = pod.spec.containers
    [value] = [e.value for e in container.env if e.name == "MODELRELEASE_TRAINER_CONFIG"]
    config: dict[str, Any] = json.loads(value)
    return config


class TrialPlayer:
    """Ends each running trial pod as its trainer would, and watches the Jobs."""

    def __init__(self, trainings: Trainings, name: str, trained: dict[str, Any]) -> None:
        self.trainings, self.name, self.trained = trainings, name, trained
        #: Trial number → the summary its pod was given.
        self.given: dict[int, dict[str, Any]] = {}
        #: The most trial Jobs seen unfinished at once.
        self.most_active = 0

    def step(self) -> None:
        active = [
            job
            for job in self.trainings.jobs(self.name)
            if not any(
                c.type in {"Complete", "Failed"} and c.status == "True"
                for c in job.status.conditions or []
            )
        ]
        self.most_active = max(self.most_active, len(active))
        for pod in self.trainings.pods(self.name):
            annotations = pod.metadata.annotations or {}
            if pod.status.phase != "Running" or OUTCOME in annotations:
                continue
            number = int(pod.metadata.labels[TRIAL_LABEL])
            config = _config(pod)
            uri = config["output"]["uri"]
            summary = {
                **self.trained,
                "metrics": {
                    **self.trained["metrics"],
                    "roc_auc": trial_score(config["hyperparameters"]),
                },
                "artifactUri": uri,
                "digest": "sha256:" + hashlib.sha256(uri.encode()).hexdigest(),
            }
            self.given[number] = summary
            message = json.dumps(summary, separators=(",", ":"), sort_keys=True)
            patch = {
                "metadata": {"annotations": {OUTCOME: "succeed", MESSAGE: message, DELAY: "2s"}}
            }
            self.trainings.core.patch_namespaced_pod(
                pod.metadata.name, self.trainings.namespace, patch
            )


def test_a_search_keeps_the_best_trial_and_survives_a_sigkill(
    trainings: Trainings,
    operator: OperatorProcess,
    trained: dict[str, Any],
    control_plane: ControlPlane,
) -> None:
    name = "tuned"
    trainings.create(tuning_training(name))
    player = TrialPlayer(trainings, name, trained)
    killed_at: list[dict[str, Any]] = []
    deadline = time.monotonic() + 420
    while True:
        player.step()
        status = trainings.status(name)
        if status.get("phase") in {"Succeeded", "Failed", "Rejected"}:
            break
        trials = (status.get("tuning") or {}).get("trials") or []
        ended = [t for t in trials if t["state"] != "Running"]
        if not killed_at and len(ended) >= 6:
            # Mid-search: some trials ended, some run, most not asked yet.
            killed_at.append(status)
            operator.sigkill()
            for _ in range(8):  # trials go on ending while no operator watches
                player.step()
                time.sleep(0.5)
            operator.start()
        assert time.monotonic() < deadline, f"search unfinished: {status}\n{operator.tail()}"
        time.sleep(0.25)

    assert killed_at, "the search ended before the operator could be killed"
    assert len(killed_at[0]["tuning"]["trials"]) < TRIALS
    assert status["phase"] == "Succeeded", status.get("message")
    trials = status["tuning"]["trials"]
    assert [t["number"] for t in trials] == list(range(TRIALS))
    assert all(t["state"] == "Complete" for t in trials), trials
    jobs = trainings.jobs(name)
    assert sorted(j.metadata.name for j in jobs) == sorted(
        f"{name}-trial-{n}" for n in range(TRIALS)
    )
    assert player.most_active == PARALLELISM
    # Each trial ran once, with the parameters status recorded for it, and reported
    # the value computed from them.
    assert sorted(player.given) == list(range(TRIALS))
    for trial in trials:
        assert trial["value"] == pytest.approx(trial_score(trial["params"]))
        assert player.given[trial["number"]]["metrics"]["roc_auc"] == trial["value"]

    best = max(trials, key=lambda t: t["value"])
    assert status["tuning"]["best"] == {
        "number": best["number"],
        "value": best["value"],
        "params": best["params"],
    }
    given = player.given[best["number"]]
    assert status["artifact"] == {"uri": given["artifactUri"], "digest": given["digest"]}
    assert status["artifact"]["uri"].endswith(f"/{name}/trial-{best['number']}")
    assert status["metrics"]["roc_auc"] == best["value"]
    assert status["jobName"] == f"{name}-trial-{best['number']}"
    assert [g["passed"] for g in status["gate"]] == [True]
    progress = f"trials {TRIALS}/{TRIALS}, best roc_auc={best['value']:.4f}"
    assert status["tuning"]["progress"] == progress
    shown = subprocess.run(
        [
            str(control_plane.bin_dir / "kubectl"),
            f"--kubeconfig={control_plane.admin_kubeconfig}",
            "get",
            "mt",
            name,
            "-n",
            trainings.namespace,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "TUNING" in shown.stdout and progress in shown.stdout, shown.stdout


VALID = {"parameters": SPACE, "trials": 4, "objective": {"metric": "roc_auc"}}


@pytest.mark.parametrize(
    ("tuning", "message"),
    [
        (
            {"parameters": {"eta": {"type": "float", "low": 0.5, "high": 0.1}}},
            "a float or int parameter needs low < high",
        ),
        (
            {"parameters": {"eta": {"type": "float", "low": 0, "high": 1, "log": True}}},
            "log needs a float or int parameter with low > 0",
        ),
        (
            {"parameters": {"grow_policy": {"type": "categorical", "choices": []}}},
            "a categorical parameter needs choices",
        ),
        (
            {"parameters": {"tree_method": {"type": "categorical", "choices": ["hist"]}}},
            "only these",
        ),
        ({"parallelism": 5}, "spec.tuning.parallelism must not exceed spec.tuning.trials"),
        ({"objective": {"metric": "rmse"}}, "spec.tuning.objective.metric"),
    ],
    ids=["low-high", "log", "no-choices", "not-tunable", "parallelism", "objective"],
)
def test_invalid_tuning_is_refused_at_admission(
    trainings: Trainings, tuning: dict[str, Any], message: str
) -> None:
    manifest = cpu_training("invalid")
    manifest["spec"]["tuning"] = {**VALID, **tuning}
    with pytest.raises(kubernetes.client.ApiException) as refused:
        trainings.create(manifest)
    assert refused.value.status == 422
    assert message in json.loads(str(refused.value.body))["message"]
