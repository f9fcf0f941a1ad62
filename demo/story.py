"""The demo's story: a cluster with a real node, the operator installed as users install
it, two trainings, live traffic with feedback, and a release watched stage by stage.

    promote:  v2 (deeper trees, same data) replaces v1 through 25, 50 and 100 %
    rollback: a model trained on another population drifts and is rolled back
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import kubernetes
import yaml
from rich.console import Console
from rich.live import Live

from tests.integration.waiting import Waiter
from tests.realnode import deploy, releases
from tests.realnode.traffic import ServiceTraffic, answers

from . import cluster as background
from .view import Seen, render, utc_now

RELEASE = "loan-default"
SHIFTED = "builtin:loan-default?rows=20000&seed=9&shift=1.5"


def _namespace(api: Any, name: str, wait: Waiter) -> None:
    """A fresh restricted namespace (an earlier run's is deleted first)."""
    core = kubernetes.client.CoreV1Api(api)
    if core.list_namespace(field_selector=f"metadata.name={name}").items:
        core.delete_namespace(name)
        wait.until(
            lambda: not core.list_namespace(field_selector=f"metadata.name={name}").items,
            what=f"namespace {name} deleted",
            timeout=300,
        )
    volume = f"{name}-store"
    if core.list_persistent_volume(field_selector=f"metadata.name={volume}").items:
        core.delete_persistent_volume(volume)
    deploy.remove_store_folder(name)
    labels = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "warn")}
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    wait.until(
        lambda: (
            core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
        ),
        what="the namespace's default ServiceAccount",
    )


def _trainings(scenario: str) -> list[dict[str, Any]]:
    documents = [
        *deploy.example("training-loan-default.yaml"),
        *deploy.example("training-loan-default-v2.yaml"),
    ]
    if scenario == "rollback":
        shifted = yaml.safe_load(yaml.safe_dump(documents[1]))
        shifted["metadata"]["name"] = "loan-default-shifted"
        shifted["spec"]["dataset"]["uri"] = SHIFTED
        shifted["spec"]["qualityGate"] = {"thresholds": [{"metric": "roc_auc", "min": 0.7}]}
        documents[1] = shifted
    return documents


def _events(api: Any, namespace: str) -> list[tuple[str, str, str, str]]:
    found = kubernetes.client.CoreV1Api(api).list_namespaced_event(namespace).items

    def when(event: Any) -> datetime:
        stamp = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
        return stamp  # type: ignore[no-any-return]

    rows = []
    for event in sorted(found, key=when):
        involved = event.involved_object
        if involved.kind not in ("ModelRelease", "ModelTraining"):
            continue
        rows.append(
            (
                when(event).strftime("%H:%M:%S"),
                event.type,
                f"{involved.kind}/{involved.name}",
                f"{event.reason}: {event.message}"[:110],
            )
        )
    return rows


def run(scenario: str) -> int:
    console = Console()
    began = time.monotonic()
    with console.status("starting the local cluster: control plane and a real node"):
        cluster = background.start()
    console.print(f"[green]✓[/] local cluster up ({time.monotonic() - began:.0f}s)")
    with cluster.api_client() as api:

        def wait_in(namespace: str | None) -> Waiter:
            return Waiter(api, namespace, lambda: "")

        with console.status("building (cached) and importing the images into the node"):
            imported = deploy.import_images(cluster, background.HOME / "images")
        for image in imported:
            console.print(f"[green]✓[/] image {image.ref}")
        with console.status("kubectl apply -k manifests/ (CRDs, RBAC, the operator)"):
            deploy.install_operator(cluster, wait_in(deploy.OPERATOR_NAMESPACE))
        console.print("[green]✓[/] operator running as the Deployment in manifests/operator.yaml")
        namespace = f"demo-{scenario}"
        with console.status(f"namespace {namespace} with the examples' object store"):
            _namespace(api, namespace, wait_in(None))
            deploy.install_store(cluster, namespace, wait_in(namespace))
        console.print(f"[green]✓[/] object store (SeaweedFS) in {namespace}")
        trainings = _trainings(scenario)
        for training in trainings:
            deploy.kubectl(
                cluster,
                "apply",
                "-n",
                namespace,
                "-f",
                "-",
                stdin=yaml.safe_dump(training),
            )
        custom = kubernetes.client.CustomObjectsApi(api)
        with console.status("training " + ", ".join(t["metadata"]["name"] for t in trainings)):
            for training in trainings:
                name = training["metadata"]["name"]
                status = wait_in(namespace).until(
                    lambda name=name: (
                        (
                            s := (
                                custom.get_namespaced_custom_object(
                                    "modelrelease.dev",
                                    "v1alpha1",
                                    namespace,
                                    "modeltrainings",
                                    name,
                                ).get("status")
                                or {}
                            )
                        ).get("phase")
                        in ("Succeeded", "Failed", "Rejected")
                        and s
                    ),
                    what=f"training {name}",
                    timeout=600,
                    interval=1,
                )
                console.print(
                    f"[green]✓[/] ModelTraining {name}: {status['phase']}, "
                    f"{status.get('headline', '')}"
                )
        candidate = trainings[1]["metadata"]["name"]
        overrides: dict[str, Any] = {}
        if scenario == "rollback":
            overrides["riskCheck"] = {"metrics": [{"metric": "roc_auc", "maxDegradation": 1.0}]}
        release = releases.manifest(RELEASE, {"training": candidate}, **overrides)
        releases.apply(cluster, namespace, release)
        url = wait_in(namespace).until(
            lambda: releases.service_url(api, namespace, RELEASE), what="the release's Service"
        )
        with console.status("the stable version coming up behind the release's Service"):
            wait_in(namespace).until(lambda: answers(url), what="an answer", timeout=300)
        console.print(
            f"[green]✓[/] live traffic with feedback through {url} "
            f"({time.monotonic() - began:.0f}s after start); releasing {candidate}"
        )
        with ServiceTraffic(url) as traffic, Live(console=console, refresh_per_second=2) as live:
            while True:
                found = custom.get_namespaced_custom_object(
                    "modelrelease.dev", "v1alpha1", namespace, "modelreleases", RELEASE
                )
                counts = traffic.between(time.time() - 10, time.time() + 1)
                seen = Seen(
                    found,
                    _events(api, namespace),
                    {(v or "error"): n for v, n in counts.items()},
                    utc_now(),
                )
                live.update(render(seen))
                if (found.get("status") or {}).get("phase") in releases.FINAL:
                    break
                time.sleep(1)
    phase = (found.get("status") or {}).get("phase")
    console.print(deploy.kubectl(cluster, "get", "mt,mr", "-n", namespace))
    console.print(f"export KUBECONFIG={cluster.admin_kubeconfig}")
    console.print(
        f"kubectl -n {namespace} get mr {RELEASE} -o yaml   # explore; make demo-down stops it all"
    )
    wanted = "Succeeded" if scenario == "promote" else "RolledBack"
    return 0 if phase == wanted else 1
