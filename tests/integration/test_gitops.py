"""GitOps on a real control plane: ModelTrainings and a ModelRelease applied from "git"
(server-side apply as one field manager, as Flux and Argo CD apply) and driven through
every phase the GitOps way (commits) and by hand (command annotations), with the
operator running under its own ServiceAccount.

At each phase the object is read back from the API server and given to the real
evaluators — kstatus (cli-utils, and Flux's fork that kustomize-controller runs) and
Argo CD's own Lua health VM with the scripts of manifests/gitops/argocd — whose verdicts
must be what docs/gitops.md's table says. `kubectl wait --for=condition=Ready` must
return when a rollout ends and time out on a rolled-back release; applying git again at
any phase must change nothing (the operator never writes what git owns); and the docs'
Argo CD and Flux objects must pass those tools' CRD schemas on the API server.
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
import yaml

from tests.controlplane import binaries
from tests.controlplane.cluster import ControlPlane
from tests.unit.gitops_docs import DOCS, STANDARD, health_table

from .gitops import ARGOCD_COMPONENT, GITOPS_MANAGER, REPO, Evaluators, Kubectl, render_argocd_cm
from .gitops_story import COMMAND, RELEASE, Cluster, Story, tell
from .running_operator import OperatorProcess
from .trainings import artifact_store
from .waiting import Waiter

TABLE = health_table()
ROWS = sorted(TABLE)
ROW_IDS = [f"{kind}-{phase}" for kind, phase in ROWS]


@pytest.fixture(scope="module")
def kubectl(control_plane: ControlPlane) -> Kubectl:
    return Kubectl(control_plane)


@pytest.fixture(scope="module")
def evaluators(
    control_plane: ControlPlane, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Evaluators:
    gitops = binaries.ensure().gitops_dir
    argocd_cm = render_argocd_cm(
        kubectl, gitops / "install.yaml", tmp_path_factory.mktemp("argocd-cm")
    )
    return Evaluators(control_plane.bin_dir, argocd_cm)


@pytest.fixture(scope="module")
def story(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    kubectl: Kubectl,
    operator_process: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Story]:
    core = kubernetes.client.CoreV1Api(kube_api)
    namespace = f"gitops-{int(time.time()) % 100000}"
    labels = {
        f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
    }
    core.create_namespace({"metadata": {"name": namespace, "labels": labels}})
    try:
        wait = Waiter(kube_api, namespace, lambda: f"operator log ends:\n{operator_process.tail()}")
        wait.until(
            lambda: (
                core.list_namespaced_service_account(
                    namespace, field_selector="metadata.name=default"
                ).items
            ),
            what="the namespace's default ServiceAccount",
        )
        if not operator_process.alive():
            operator_process.start()
        artifact_store(kube_api, namespace)
        told = Story(namespace)
        workdir = tmp_path_factory.mktemp("gitops")
        tell(told, Cluster(kube_api, kubectl, namespace, wait, told), operator_process, workdir)
        (workdir / "captured.json").write_text(
            json.dumps({f"{k}/{p}": v for (k, p), v in told.captured.items()}, indent=1)
        )
        yield told
    finally:
        core.delete_namespace(namespace)


# -- the evaluators against the table ---------------------------------------------------


def true_condition(body: dict[str, Any]) -> dict[str, Any]:
    (found,) = [
        c for c in body["status"]["conditions"] if c["type"] in STANDARD and c["status"] == "True"
    ]
    return found


@pytest.mark.parametrize(("kind", "phase"), ROWS, ids=ROW_IDS)
def test_every_phase_was_captured_with_its_documented_conditions(
    story: Story, kind: str, phase: str
) -> None:
    bodies = story.captured.get((kind, phase))
    assert bodies, f"no {kind} was seen {phase}; seen: {sorted(story.captured)}"
    row = TABLE[(kind, phase)]
    for body in bodies:
        status = body["status"]
        assert status["observedGeneration"] == body["metadata"]["generation"]
        found = {c["type"]: c for c in status["conditions"] if c["type"] in STANDARD}
        assert {t: c["status"] for t, c in found.items()} == {t: row[t] for t in STANDARD}
        assert all(
            c["observedGeneration"] == body["metadata"]["generation"] for c in found.values()
        )


@pytest.mark.parametrize(("kind", "phase"), ROWS, ids=ROW_IDS)
def test_kstatus_gives_the_documented_status(
    story: Story, evaluators: Evaluators, kind: str, phase: str
) -> None:
    bodies = story.captured.get((kind, phase), [])
    assert bodies
    for body, verdict in zip(bodies, evaluators.kstatus(bodies), strict=True):
        assert (verdict.status, verdict.flux) == (TABLE[(kind, phase)]["kstatus"],) * 2
        assert verdict.flux_message == verdict.message
        if verdict.status != "Current":  # Current says "Resource is Ready"
            assert verdict.message == true_condition(body)["message"]


@pytest.mark.parametrize(("kind", "phase"), ROWS, ids=ROW_IDS)
def test_argocd_health_is_the_documented_health(
    story: Story, evaluators: Evaluators, kind: str, phase: str
) -> None:
    bodies = story.captured.get((kind, phase), [])
    assert bodies
    for body, verdict in zip(bodies, evaluators.argocd(bodies), strict=True):
        assert verdict.status == TABLE[(kind, phase)]["Argo CD"]
        # The same words as the condition kstatus and kubectl show.
        assert verdict.message == true_condition(body)["message"]


def test_a_commit_the_operator_has_not_seen_is_in_progress_for_every_tool(
    story: Story, evaluators: Evaluators
) -> None:
    body = story.unobserved
    generation = body["metadata"]["generation"]
    assert body["status"]["observedGeneration"] == generation - 1
    assert body["status"]["phase"] == "Failed"  # what status still says
    (verdict,) = evaluators.kstatus([body])
    assert (verdict.status, verdict.flux) == ("InProgress", "InProgress")
    assert verdict.message == (
        f"ModelRelease generation is {generation}, but latest observed generation is "
        f"{generation - 1}"
    )
    (health,) = evaluators.argocd([body])
    assert (health.status, health.message) == (
        "Progressing",
        f"waiting for the operator to observe generation {generation}",
    )


# -- kubectl wait ------------------------------------------------------------------------


def test_kubectl_wait_ready_returns_when_a_training_is_trained(story: Story) -> None:
    run = story.waits["training Ready"]
    assert run.code == 0 and "condition met" in run.output, run
    assert run.seconds > 2  # it waited through Pending and Running (a 4 s training)


def test_kubectl_wait_ready_times_out_on_a_rejected_training_that_stalled(story: Story) -> None:
    ready = story.waits["rejected Ready"]
    assert ready.code != 0 and "timed out" in ready.output, ready
    stalled = story.waits["rejected Stalled"]
    assert stalled.code == 0, stalled


def test_kubectl_wait_ready_returns_when_the_rollout_ends(story: Story) -> None:
    run = story.waits["rollout Ready"]
    assert run.code == 0, run
    # Started right after the commit, while Ready=True from before it was still there:
    # the generation it was observed for kept kubectl waiting through the whole rollout.
    assert run.ended_after


def test_kubectl_wait_ready_times_out_on_a_rolled_back_release(story: Story) -> None:
    run = story.waits["rolled back Ready"]
    assert run.code != 0 and "timed out" in run.output, run
    assert run.seconds >= 10


# -- no tug-of-war -------------------------------------------------------------------------


def test_syncing_git_again_changes_nothing_at_any_phase(story: Story) -> None:
    assert [step for step, *_ in story.reapplied] == [
        "steady on v1",
        "rolling out",
        "paused in git",
        "paused by hand",
        "promoted",
        "rolled back",
        "reverted",
        "failed",
    ]
    for step, code, output, before, after, changed in story.reapplied:
        assert code == 0, f"{step}: {output}"  # no field git sets is taken by anyone else
        assert (before, after, changed) == (before, before, False), step


def test_commands_by_hand_leave_nothing_for_git_to_revert(story: Story) -> None:
    assert story.leftover_commands == []
    final = story.finals[-1]
    assert COMMAND not in (final["metadata"].get("annotations") or {})


def test_the_gitops_abort_rolls_back_and_settles_on_the_stable(story: Story) -> None:
    assert story.abort_reasons[-2:] == ["CandidateWithdrawn", "StableReady"]


def test_the_operator_writes_no_spec_and_nothing_git_owns(story: Story) -> None:
    for body in story.finals:
        for entry in body["metadata"]["managedFields"]:
            fields = entry.get("fieldsV1") or {}
            if entry["manager"] == GITOPS_MANAGER:
                assert entry["operation"] == "Apply"
                continue
            # Everyone else (the operator's status writes) stays out of spec, labels and
            # annotations git sets.
            assert "f:spec" not in fields, (body["metadata"]["name"], entry)
            assert entry.get("subresource") == "status", (body["metadata"]["name"], entry)


def test_what_the_operator_creates_is_owned_so_gitops_tools_leave_it_alone(story: Story) -> None:
    owners = {(b["kind"], b["metadata"]["name"]): b["metadata"]["uid"] for b in story.finals}
    kinds = {child["metadata"]["name"]: child for child in story.children}
    assert any(name.startswith(f"{RELEASE}-") for name in kinds), sorted(kinds)
    for child in story.children:
        meta = child["metadata"]
        # gitops-engine counts as an application's own only objects without owner
        # references; Flux prunes only what it applied.
        (owner,) = meta["ownerReferences"]
        assert owner["controller"] is True
        assert owners[(owner["kind"], owner["name"])] == owner["uid"]
        assert "argocd.argoproj.io/tracking-id" not in (meta.get("annotations") or {})
        assert not any(
            k.startswith("kustomize.toolkit.fluxcd.io/") for k in meta.get("labels") or {}
        )


# -- the docs' objects against the tools' schemas ------------------------------------------


def docs_objects() -> list[dict[str, Any]]:
    """Every Argo CD and Flux object in the YAML blocks of docs/gitops.md."""
    text = (DOCS / "gitops.md").read_text()
    blocks = [part.split("```", 1)[0] for part in text.split("```yaml\n")[1:]]
    objects = [d for block in blocks for d in yaml.safe_load_all(block) if d]
    return [
        d
        for d in objects
        if d["apiVersion"].split("/")[0] in {"argoproj.io"}
        or d["apiVersion"].endswith(".toolkit.fluxcd.io/v1")
    ]


@pytest.fixture(scope="module")
def gitops_crds(kube_api: kubernetes.client.ApiClient) -> Iterator[None]:
    extensions = kubernetes.client.ApiextensionsV1Api(kube_api)
    folder = binaries.ensure().gitops_dir
    names = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "install.yaml":
            continue
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            names.append(crd["metadata"]["name"])
            extensions.create_custom_resource_definition(crd)
    custom = kubernetes.client.CustomObjectsApi(kube_api)
    served = {
        ("argoproj.io", "v1alpha1", "applications"),
        ("source.toolkit.fluxcd.io", "v1", "gitrepositories"),
        ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
    }
    deadline = time.monotonic() + 60
    while served:
        group, version, plural = next(iter(served))
        try:
            custom.list_cluster_custom_object(group, version, plural, limit=1)
            served.discard((group, version, plural))
        except kubernetes.client.ApiException:
            assert time.monotonic() < deadline, f"{plural} not served 60 s after its CRD"
            time.sleep(0.5)
    try:
        yield
    finally:
        for name in names:
            extensions.delete_custom_resource_definition(name)


def test_the_docs_argocd_and_flux_objects_pass_their_crd_schemas(
    gitops_crds: None, kubectl: Kubectl, namespace: str
) -> None:
    objects = docs_objects()
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == ["Application", "GitRepository", "Kustomization"], kinds

    def dry_run(document: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        document = copy.deepcopy(document)
        document["metadata"]["namespace"] = namespace
        # Server-side dry run with strict field validation: an unknown or misspelt field
        # is an error, as are values the schema (and its CEL rules) refuse.
        return kubectl.run(
            "create",
            "--dry-run=server",
            "--validate=strict",
            "-f",
            "-",
            input=yaml.safe_dump(document),
        )

    for document in objects:
        done = dry_run(document)
        assert done.returncode == 0, (
            f"{document['kind']}:\n{done.stderr}\n{yaml.safe_dump(document)}"
        )
    # The check has teeth: a misspelt field of either tool is refused.
    for kind in ("Application", "Kustomization"):
        document = next(o for o in objects if o["kind"] == kind)
        misspelt = copy.deepcopy(document)
        misspelt["spec"]["ignoreDifference"] = []
        done = dry_run(misspelt)
        assert done.returncode != 0 and "ignoreDifference" in done.stderr, done.stderr


def health_keys(data: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in data.items() if k.startswith("resource.customizations.health.")}


SCRIPTS = {
    "resource.customizations.health.modelrelease.dev_ModelRelease": "health-modelrelease.lua",
    "resource.customizations.health.modelrelease.dev_ModelTraining": "health-modeltraining.lua",
}


def test_the_argocd_component_merges_the_scripts_into_argocd_cm(evaluators: Evaluators) -> None:
    merged = yaml.safe_load(evaluators.argocd_cm.read_text())
    assert merged["metadata"]["name"] == "argocd-cm"
    assert health_keys(merged["data"]) == {
        key: (ARGOCD_COMPONENT / file).read_text() for key, file in SCRIPTS.items()
    }
    # Argo CD's own keys are still there: the component merges, it does not replace.
    assert "resource.exclusions" in merged["data"]


def test_the_docs_kubectl_recipe_adds_the_scripts_to_a_live_argocd_cm(
    kubectl: Kubectl, namespace: str
) -> None:
    install = binaries.ensure().gitops_dir / "install.yaml"
    (base,) = [
        d
        for d in yaml.safe_load_all(install.read_text())
        if d and d["kind"] == "ConfigMap" and d["metadata"]["name"] == "argocd-cm"
    ]
    kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(base))
    text = (DOCS / "gitops.md").read_text()
    recipe = text.split("kubectl -n argocd create configmap argocd-cm", 1)[1].split("```", 1)[0]
    files = [part.split("=", 1) for part in recipe.split("--from-file=")[1:]]
    generated = kubectl(
        "-n",
        namespace,
        "create",
        "configmap",
        "argocd-cm",
        "--dry-run=client",
        "-o",
        "yaml",
        *[f"--from-file={key}={REPO / path.split()[0]}" for key, path in files],
    )
    assert "| kubectl apply --server-side --field-manager=modelrelease-health -f -" in recipe
    kubectl(
        "apply",
        "-n",
        namespace,
        "--server-side",
        "--field-manager=modelrelease-health",
        "-f",
        "-",
        input=generated,
    )
    live = yaml.safe_load(kubectl("get", "-n", namespace, "configmap", "argocd-cm", "-o", "yaml"))
    assert health_keys(live["data"]) == {
        key: (ARGOCD_COMPONENT / file).read_text() for key, file in SCRIPTS.items()
    }
    assert "resource.exclusions" in live["data"]
    assert live["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"
