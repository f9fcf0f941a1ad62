"""The Grafana dashboard (manifests/observability/) against real series: a release runs
with real metrics (as in test_release_e2e.py) while Prometheus scrapes the serving
processes and the operator; then every panel's queries, with the dashboard's variables
set to this release, run as Grafana runs them (range queries over the rollout) and must
return data, and every variable's query must offer this release's values.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from modelrelease_operator.api import GROUP, VERSION

from tests.integration.running_operator import OperatorProcess
from tests.integration.waiting import Waiter
from tests.realmetrics import artifacts
from tests.realmetrics.fixtures import ServingFactory, scrape_targets
from tests.realmetrics.prometheus import Prometheus
from tests.realmetrics.routing import ClusterRouting
from tests.realmetrics.traffic import LoadGenerator

from .conftest import note
from .scenario import PLURAL, manifest

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "manifests" / "observability" / "dashboard-modelrelease.json"
RELEASE = "loan-default"
MODEL = "loan-default-dashboard"
STAGES = [
    {"weight": 25, "duration": "12s", "minRequests": 30},
    {"weight": 50, "duration": "12s", "minRequests": 30},
    {"weight": 100, "duration": "10s", "minRequests": 30},
]
RATE = 30.0
SCENARIO_SECONDS = 200.0
#: What Grafana would compute for these variables at a 1 s scrape interval (4 scrapes
#: and more), and the shortest choice of the dashboard's `window`.
BUILT_IN = {"__rate_interval": "10s"}
WINDOW = "1m"
#: Gates every check of this release's analysis reports a value for (the latency gate is
#: named after its quantile).
GATES_WITH_VALUES = {"traffic", "error-rate", "latency-p90", "drift", "accuracy"}


def substitute(expression: str, values: dict[str, str]) -> str:
    def value(found: re.Match[str]) -> str:
        name = found.group(1) or found.group(2)
        assert name in values, f"no value for ${name} in {expression}"
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expression)


def range_query(prometheus: Prometheus, expression: str, start: float, end: float) -> int:
    """Points the range query returns, over all its series (what a panel would draw)."""
    answer = prometheus.api(
        "query_range", query=expression, start=f"{start:.3f}", end=f"{end:.3f}", step="1"
    )
    assert answer.get("status") == "success", (expression, answer)
    return sum(len(series["values"]) for series in answer["data"]["result"])


def label_values(prometheus: Prometheus, definition: str, start: float, end: float) -> set[str]:
    """A Grafana `label_values(selector, label)` variable query, as its data source runs it."""
    found = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", definition)
    assert found, definition
    selector, label = found.groups()
    answer = prometheus.api(
        "series", **{"match[]": selector, "start": f"{start:.0f}", "end": f"{end:.0f}"}
    )
    assert answer.get("status") == "success", (definition, answer)
    return {series[label] for series in answer["data"] if label in series}


def _phase(api: kubernetes.client.ApiClient, namespace: str) -> str | None:
    found: Any = kubernetes.client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, RELEASE
    )
    phase = (found.get("status") or {}).get("phase")
    return str(phase) if phase else None


def test_every_dashboard_query_returns_data_for_a_real_release(
    request: pytest.FixtureRequest,
    kube_api: kubernetes.client.ApiClient,
    operator: OperatorProcess,
    namespace: str,
    wait: Waiter,
    prometheus: Prometheus,
    models: artifacts.Models,
    artifact_store: artifacts.ArtifactStore,
    serving: ServingFactory,
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    servers = serving(MODEL, [models.stable, models.good], namespace=namespace, release=RELEASE)
    # The operator's own metrics, beside the serving processes the fixture scrapes.
    scraped_operator = f"127.0.0.1:{operator.metrics_port}"
    names, meta = scrape_targets(list(servers.values()))
    prometheus.set_targets({**names, scraped_operator: "operator"}, meta)
    prometheus.wait_targets_up([scraped_operator])

    began = time.time()
    body = manifest(
        RELEASE,
        MODEL,
        stable=models.stable,
        candidate=models.good,
        uri={a.version: artifact_store.uri(a) for a in (models.stable, models.good)},
        prometheus=prometheus,
        stages=STAGES,
        replicas=4,
    )
    kubernetes.client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )
    cluster = ClusterRouting(kube_api, namespace, RELEASE)
    load = LoadGenerator(
        {v: p.url for v, p in servers.items()},
        lambda: cluster.weights("replicas"),
        rate=RATE,
        max_seconds=SCENARIO_SECONDS + 30,
        max_requests=int(RATE * (SCENARIO_SECONDS + 30)),
        records_per_request=4,
        feedback_share=0.5,
    ).start()
    try:
        wait.until(
            lambda: _phase(kube_api, namespace) in {"Succeeded", "RolledBack", "Failed"},
            what="the release to finish",
            timeout=SCENARIO_SECONDS,
        )
        assert _phase(kube_api, namespace) == "Succeeded"
        time.sleep(3)  # a few more scrapes of the final state
    finally:
        load.stop()
    assert load.error is None, load.error
    end = time.time()

    values = {
        **BUILT_IN,
        "namespace": namespace,
        "release": RELEASE,
        "model": MODEL,
        "window": WINDOW,
    }
    # Each variable's query offers this release's value.
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for name in ("namespace", "release", "model"):
        definition = substitute(variables[name]["definition"], values)
        offered = label_values(prometheus, definition, began, end)
        assert values[name] in offered, (name, definition, offered)
    gates = label_values(
        prometheus, substitute(variables["gate"]["definition"], values), began, end
    )
    assert gates >= GATES_WITH_VALUES, gates

    # Every panel's every query draws something; a repeated panel, once per gate.
    empty: list[str] = []
    drawn: dict[str, int] = {}
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    for panel in panels:
        repeat = panel.get("repeat")
        for each in sorted(gates) if repeat == "gate" else [None]:
            bound = {**values, "gate": each} if each else values
            for target in panel["targets"]:
                expression = substitute(target["expr"], bound)
                points = range_query(prometheus, expression, began, end)
                label = f"{panel['title'].replace('$gate', str(each))} [{target['refId']}]"
                drawn[label] = points
                if not points:
                    empty.append(f"{label}: {expression}")
    assert not empty, "panels without data:\n" + "\n".join(empty)
    note(
        request.config,
        f"dashboard: {len(panels)} panels, {len(drawn)} queries over {end - began:.0f}s of a "
        f"release, all with data (fewest points: {min(drawn.values())})",
    )
