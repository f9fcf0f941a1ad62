"""End-to-end releases with real metrics on one machine.

Real: the control plane and the operator (built from the integration suite's pieces),
the serving processes (`modelrelease-server`, one per model version), a Prometheus
server scraping them every second, and traffic from a load generator. Emulated: only the
data plane's routing, which the load generator does from the weights the operator wrote
into the cluster (routing.py says why).

The control plane here is module-scoped (not the integration suite's session one), so
that it is gone before the integration suite starts its own.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from tests.controlplane import binaries
from tests.controlplane.cluster import ControlPlane
from tests.integration import gateway_api
from tests.integration.install import install
from tests.integration.running_operator import (
    OperatorProcess,
    service_account_kubeconfig,
    wait_owner_kinds_resolvable,
)
from tests.integration.waiting import Waiter

from . import artifacts
from .prometheus import Prometheus, PrometheusUnavailable, started
from .serving import Artifact, ServingProcess

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LATENCIES = pytest.StashKey[list[tuple[str, float]]]()
NOTES = pytest.StashKey[list[str]]()


# -- reporting ------------------------------------------------------------------------


def record_latency(config: pytest.Config, what: str, seconds: float) -> None:
    config.stash.setdefault(LATENCIES, []).append((what, seconds))


def note(config: pytest.Config, line: str) -> None:
    config.stash.setdefault(NOTES, []).append(line)


def latency_summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return (
        f"e2e decision latency: median {median:.2f} s, max {ordered[-1]:.2f} s "
        f"over {len(ordered)} decisions"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    latencies = config.stash.get(LATENCIES, [])
    notes = config.stash.get(NOTES, [])
    if not latencies and not notes:
        return
    terminalreporter.section("e2e releases with real metrics")
    for line in notes:
        terminalreporter.write_line(line)
    for what, seconds in latencies:
        terminalreporter.write_line(f"  {what}: {seconds:.2f} s")
    if latencies:
        terminalreporter.write_line(latency_summary([s for _, s in latencies]))


# -- Prometheus, models, serving processes -----------------------------------------------


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """A real Prometheus on a loopback port, scraping whatever `set_targets` names."""
    try:
        server = started(tmp_path_factory.mktemp("prometheus"))
    except PrometheusUnavailable as reason:
        pytest.skip(str(reason))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> artifacts.Models:
    """stable v1, good candidate v2, bad (shift-trained) candidate v3-shifted."""
    return artifacts.train_all(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def artifact_store(models: artifacts.Models) -> Iterator[artifacts.ArtifactStore]:
    """The models' folders over http://127.0.0.1:<port>/ (the URIs the releases name)."""
    root = models.stable.path.parents[1]
    with artifacts.ArtifactStore(root) as store:
        yield store


ServingFactory = Callable[[str, list[Artifact]], dict[str, ServingProcess]]


@pytest.fixture
def serving(prometheus: Prometheus, tmp_path: Path) -> Iterator[ServingFactory]:
    """`serving(model, [artifacts])` starts one process per artifact (serving `model` at
    the artifact's version), adds them to Prometheus' targets and waits for a first
    scrape of each. All are stopped and dropped from the targets after the test."""
    running: list[ServingProcess] = []

    def start(model: str, which: list[Artifact]) -> dict[str, ServingProcess]:
        started_now = [ServingProcess(a, model, tmp_path) for a in which]
        running.extend(started_now)
        for process in started_now:
            process.start()
        prometheus.set_targets({p.address: f"{p.model}/{p.version}" for p in running})
        prometheus.wait_targets_up([p.address for p in started_now])
        return {p.version: p for p in started_now}

    try:
        yield start
    finally:
        for process in running:
            process.stop()
        prometheus.set_targets([])


# -- control plane and operator (module-scoped) ------------------------------------------


@pytest.fixture(scope="module")
def e2e_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    found = binaries.ensure()
    cluster = ControlPlane(found.bin_dir, tmp_path_factory.mktemp("controlplane"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def e2e_api(e2e_control_plane: ControlPlane) -> Iterator[kubernetes.client.ApiClient]:
    with e2e_control_plane.api_client() as api:
        yield api


@pytest.fixture(scope="module")
def e2e_operator(
    request: pytest.FixtureRequest,
    e2e_api: kubernetes.client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """CRDs and RBAC from manifests/, then the operator as its ServiceAccount."""
    installed = install(e2e_api, REPO / "manifests")
    workdir = tmp_path_factory.mktemp("operator")
    config = service_account_kubeconfig(e2e_api, workdir / "kubeconfig")
    crds = [d for d in installed if d["kind"] == "CustomResourceDefinition"]
    settled = wait_owner_kinds_resolvable(config, crds)
    operator = OperatorProcess(config, workdir)
    operator.start()
    note(
        request.config,
        f"operator: owner kinds resolvable after {settled:.1f}s, "
        f"ready in {operator.start_seconds:.1f}s",
    )
    try:
        yield operator
    finally:
        operator.stop()


@pytest.fixture(scope="module")
def e2e_gateway_api(e2e_api: kubernetes.client.ApiClient) -> None:
    """The Gateway API CRDs (HTTPRoute), for the gateway-api router; none are served
    by a real gateway here, the load generator honours the route's weights."""
    try:
        documents = gateway_api.crd_documents()
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        pytest.skip(f"Gateway API CRDs unavailable: {error}")
    extensions = kubernetes.client.ApiextensionsV1Api(e2e_api)
    for crd in documents:
        try:
            extensions.create_custom_resource_definition(crd)
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise
    custom = kubernetes.client.CustomObjectsApi(e2e_api)
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
def e2e_namespace(
    request: pytest.FixtureRequest,
    e2e_api: kubernetes.client.ApiClient,
    e2e_control_plane: ControlPlane,
) -> Iterator[str]:
    """A fresh namespace enforcing Pod Security `restricted`, as in the integration suite."""
    core = kubernetes.client.CoreV1Api(e2e_api)
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{stem}-{secrets.token_hex(3)}"
    labels = {
        f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
    }
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    deadline = time.monotonic() + 60
    while not core.list_namespaced_service_account(
        name, field_selector="metadata.name=default"
    ).items:
        if time.monotonic() > deadline:
            pytest.fail(f"namespace {name} got no default ServiceAccount")
        time.sleep(0.2)
    yield name
    e2e_control_plane.check_running()
    core.delete_namespace(name)


@pytest.fixture
def e2e_wait(
    e2e_api: kubernetes.client.ApiClient,
    e2e_namespace: str,
    request: pytest.FixtureRequest,
) -> Waiter:
    def context() -> str:
        if "e2e_operator" in request.fixturenames:
            operator: Any = request.getfixturevalue("e2e_operator")
            return f"operator log ({operator.log}) ends:\n{operator.tail()}"
        return ""

    return Waiter(e2e_api, e2e_namespace, context)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The scenarios need the local control plane, as the integration suite does.
    for item in items:
        if HERE in Path(str(item.path)).parents and "e2e_operator" in getattr(
            item, "fixturenames", ()
        ):
            item.add_marker(pytest.mark.integration)
