"""The control plane and the operator for every suite that needs them (imported by
tests/conftest.py, so a session runs one control plane and one operator): a real control
plane (etcd, kube-apiserver, controller-manager, scheduler, kwok nodes), the project's CRDs
and RBAC, the operator as a process that authenticates as its ServiceAccount, and the
Gateway API CRDs for the gateway-api router."""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from tests.controlplane import binaries
from tests.controlplane.cluster import ControlPlane

from . import gateway_api as gateway_api_crds
from .install import install
from .running_operator import (
    OperatorProcess,
    service_account_kubeconfig,
    wait_owner_kinds_resolvable,
)
from .trainings import Trainings, artifact_store
from .waiting import Waiter

REPO = Path(__file__).resolve().parents[2]
REPORT = pytest.StashKey[list[str]]()


def report(config: pytest.Config, line: str) -> None:
    """Show a line in the test log now (whatever -s says) and again in the summary."""
    config.stash.setdefault(REPORT, []).append(line)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\n{line}")
    else:
        reporter.write_line(line)


def summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Repeat the report lines in a "control plane" section of the summary."""
    lines = terminalreporter.config.stash.get(REPORT, [])
    if lines:
        terminalreporter.section("control plane")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def control_plane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    found = binaries.ensure()
    cluster = ControlPlane(found.bin_dir, tmp_path_factory.mktemp("controlplane"))
    cluster.start()
    steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in cluster.timings.items())
    report(
        request.config,
        f"control plane: kube-apiserver {cluster.version} at {cluster.server}; "
        f"binaries ready in {found.seconds:.1f}s; started: {steps}; "
        f"logs in {cluster.workdir / 'logs'}",
    )
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kube_api(control_plane: ControlPlane) -> Iterator[kubernetes.client.ApiClient]:
    """An admin (system:masters) client."""
    with control_plane.api_client() as api:
        yield api


@pytest.fixture(scope="session")
def installed(kube_api: kubernetes.client.ApiClient) -> list[dict[str, Any]]:
    """CRDs, the operator's namespace, ServiceAccount and RBAC from manifests/."""
    return install(kube_api, REPO / "manifests")


@pytest.fixture(scope="session")
def operator_process(
    request: pytest.FixtureRequest,
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    installed: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    workdir = tmp_path_factory.mktemp("operator")
    config = service_account_kubeconfig(kube_api, workdir / "kubeconfig")
    crds = [d for d in installed if d["kind"] == "CustomResourceDefinition"]
    settled = wait_owner_kinds_resolvable(config, crds)
    operator = OperatorProcess(config, workdir)
    operator.start()
    report(
        request.config,
        f"operator: owner kinds resolvable after {settled:.1f}s, "
        f"ready in {operator.start_seconds:.1f}s; log {operator.log}",
    )
    try:
        yield operator
    finally:
        operator.stop()


@pytest.fixture
def operator(operator_process: OperatorProcess) -> OperatorProcess:
    """The session's operator, brought back if an earlier test left it stopped."""
    if not operator_process.alive():
        operator_process.start()
    return operator_process


def _namespace_name(test: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", test.lower()).strip("-")[:40].strip("-")
    return f"{stem}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(
    request: pytest.FixtureRequest,
    kube_api: kubernetes.client.ApiClient,
    control_plane: ControlPlane,
) -> Iterator[str]:
    """A fresh namespace that enforces the Pod Security "restricted" profile."""
    core = kubernetes.client.CoreV1Api(kube_api)
    name = _namespace_name(request.node.name)
    labels = {
        f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
    }
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    # Pods need the namespace's default ServiceAccount, which a controller adds.
    deadline = time.monotonic() + 60
    while not core.list_namespaced_service_account(
        name, field_selector="metadata.name=default"
    ).items:
        if time.monotonic() > deadline:
            pytest.fail(
                f"namespace {name} got no default ServiceAccount\n{control_plane.log_tails()}"
            )
        time.sleep(0.2)
    yield name
    control_plane.check_running()
    core.delete_namespace(name)


@pytest.fixture
def wait(
    kube_api: kubernetes.client.ApiClient, namespace: str, request: pytest.FixtureRequest
) -> Waiter:
    """Polling helper whose failures show the namespace's events and the operator log."""

    def context() -> str:
        if "operator_process" in request.fixturenames:
            operator = request.getfixturevalue("operator_process")
            return f"operator log ({operator.log}) ends:\n{operator.tail()}"
        return ""

    return Waiter(kube_api, namespace, context)


@pytest.fixture(scope="session")
def gateway_api(kube_api: kubernetes.client.ApiClient) -> None:
    """The Gateway API CRDs (HTTPRoute), for the gateway-api router; no gateway serves
    them here."""
    try:
        documents = gateway_api_crds.crd_documents()
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        pytest.skip(f"Gateway API CRDs unavailable: {error}")
    extensions = kubernetes.client.ApiextensionsV1Api(kube_api)
    for crd in documents:
        try:
            extensions.create_custom_resource_definition(crd)
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise
    custom = kubernetes.client.CustomObjectsApi(kube_api)
    deadline = time.monotonic() + 60
    while True:
        try:
            custom.list_cluster_custom_object(
                "gateway.networking.k8s.io", "v1", "httproutes", limit=1
            )
            return
        except kubernetes.client.ApiException:
            if time.monotonic() > deadline:
                pytest.fail("HTTPRoute is not served 60 s after its CRD was created")
            time.sleep(0.5)


@pytest.fixture
def trainings(
    kube_api: kubernetes.client.ApiClient, namespace: str, wait: Waiter, operator: OperatorProcess
) -> Trainings:
    """Trainings in a fresh restricted namespace that has the examples' model store."""
    artifact_store(kube_api, namespace)
    return Trainings(kube_api, namespace, wait)
