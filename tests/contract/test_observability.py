"""manifests/observability/ fits what it monitors: the alert rules pass promtool (checked
and unit-tested), the ServiceMonitor and PodMonitor select the operator's metrics port
and the serving pods' `http` port, the prometheus-operator objects match that project's
CRD schemas (a pinned release), and every series the dashboard and the alerts read is
one the operator or the server exports. tests/e2e_local/test_dashboards.py runs the
dashboard's queries against a real Prometheus."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from modelrelease_operator import labels
from modelrelease_operator.api.release import ModelReleaseStatus
from modelrelease_operator.handlers import release_metrics
from modelrelease_operator.release import routing
from modelrelease_server.metrics import ServerMetrics
from prometheus_client import REGISTRY

from tests.realmetrics.prometheus import PrometheusUnavailable, find_binary
from tests.unit.release.builders import V1, V2, make_spec

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
OBSERVABILITY = REPO / "manifests" / "observability"
DASHBOARD = OBSERVABILITY / "dashboard-modelrelease.json"
PROMTOOL_TESTS = HERE / "observability_alerts.promtool.yaml"
KUBERNETES = "1.36.0"
#: The prometheus-operator release whose CRDs the monitoring objects are checked against.
PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator@v0.80.1"
CRD_FOLDER = "example/prometheus-operator-crd"


def manifest(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((OBSERVABILITY / name).read_text())
    return loaded


def rule_groups() -> dict[str, Any]:
    """The PrometheusRule's spec: the plain rules file Prometheus and promtool read."""
    spec: dict[str, Any] = manifest("prometheusrule.yaml")["spec"]
    return spec


def promtool() -> Path:
    try:
        prometheus = find_binary()
    except PrometheusUnavailable as reason:
        pytest.skip(str(reason))
    found = shutil.which("promtool") or prometheus.with_name("promtool")
    if not Path(found).exists():
        pytest.skip(f"no promtool beside {prometheus}")
    return Path(found)


# -- alerts -----------------------------------------------------------------------------


def test_alert_rules_pass_promtool_check_and_unit_tests(tmp_path: Path) -> None:
    tool = promtool()
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_groups()))
    shutil.copy(PROMTOOL_TESTS, tmp_path / "tests.yaml")
    checked = subprocess.run(
        [str(tool), "check", "rules", "rules.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout, checked.stdout
    tested = subprocess.run(
        [str(tool), "test", "rules", "tests.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test() -> None:
    alerts = {r["alert"] for g in rule_groups()["groups"] for r in g["rules"] if "alert" in r}
    cases = yaml.safe_load(PROMTOOL_TESTS.read_text())["tests"]
    tested = {t["alertname"] for case in cases for t in case.get("alert_rule_test", [])}
    assert alerts == tested
    assert {
        "ModelReleaseRolledBack",
        "ModelReleasePausedTooLong",
        "ModelReleaseCandidateNotReady",
        "ModelReleaseOperatorDown",
    } <= alerts


def test_operator_down_watches_the_job_the_service_monitor_makes() -> None:
    # prometheus-operator names the job after the Service (no jobLabel set).
    monitor = manifest("servicemonitor.yaml")
    assert "jobLabel" not in monitor["spec"]
    job = manifest("operator-metrics-service.yaml")["metadata"]["name"]
    (down,) = (
        r
        for g in rule_groups()["groups"]
        for r in g["rules"]
        if r.get("alert") == "ModelReleaseOperatorDown"
    )
    assert f'up{{job="{job}"}}' in down["expr"]


# -- series -------------------------------------------------------------------------------


@cache
def exported() -> frozenset[str]:
    """Sample names the operator's and the server's metrics produce."""
    operator = {
        sample.name
        for family in REGISTRY.collect()
        if family.name.startswith("modelrelease_operator_")
        for sample in family.samples
    }
    # Labelled metrics have no samples before their first use: name them from the module.
    for metric in vars(release_metrics).values():
        name = getattr(metric, "_name", None)
        kind = getattr(metric, "_type", None)
        if isinstance(name, str) and name.startswith("modelrelease_operator_"):
            suffixes = {
                "counter": ("_total",),
                "gauge": ("",),
                "histogram": ("_bucket", "_sum", "_count"),
            }[str(kind)]
            operator |= {name + suffix for suffix in suffixes}
    server = ServerMetrics("m", "v", "", (0.5,))
    served = {s.name for family in server.registry.collect() for s in family.samples}
    return frozenset(operator | served | {"modelrelease_model_info"})


def series_in(expression: str) -> set[str]:
    return set(re.findall(r"\bmodelrelease_\w+", expression))


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    found += [v["definition"] for v in dashboard["templating"]["list"] if v.get("type") == "query"]
    return found


def test_the_alerts_and_the_dashboard_read_only_exported_series() -> None:
    used = {
        name
        for expression in [
            *(r["expr"] for g in rule_groups()["groups"] for r in g["rules"]),
            *dashboard_expressions(),
        ]
        for name in series_in(expression)
    }
    assert used, "no series found"
    assert used <= exported(), sorted(used - exported())


def test_every_dashboard_variable_a_query_uses_is_defined() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    for expression in dashboard_expressions():
        used = set(re.findall(r"\$(\w+)", expression)) - {"__rate_interval"}
        assert used <= defined, (expression, used - defined)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), ids


# -- the monitors select what they should --------------------------------------------------


def operator_deployment() -> dict[str, Any]:
    documents = yaml.safe_load_all((REPO / "manifests" / "operator.yaml").read_text())
    return next(d for d in documents if d["kind"] == "Deployment")


def test_the_service_monitor_reaches_the_operators_metrics_port() -> None:
    deployment = operator_deployment()
    service = manifest("operator-metrics-service.yaml")
    monitor = manifest("servicemonitor.yaml")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    metrics_port = next(
        e["value"] for e in container["env"] if e["name"] == "MODELRELEASE_METRICS_PORT"
    )

    assert service["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert ports[port["targetPort"]] == int(metrics_port)

    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert service["metadata"]["namespace"] in monitor["spec"]["namespaceSelector"]["matchNames"]
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [port["name"]]
    kubernetes_validate.validate(service, KUBERNETES, strict=True)


def test_the_pod_monitor_selects_every_serving_pod_on_its_http_port() -> None:
    monitor = manifest("podmonitor.yaml")
    selector = monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    status = ModelReleaseStatus(
        phase="Progressing",
        stable=V1,
        candidate=V2,
        stage_index=1,
        candidate_weight=25,
        deployed_at="2026-11-23T10:00:00Z",
    )
    owner = routing.Owner("loan-default", "models", "uid-1")
    deployments = routing.desired(make_spec(), status, owner).deployments
    assert len(deployments) == 2
    assert monitor["spec"]["namespaceSelector"] == {"any": True}
    for deployment in deployments:
        pod = deployment["spec"]["template"]
        assert selector.items() <= pod["metadata"]["labels"].items(), pod["metadata"]["labels"]
        (container,) = pod["spec"]["containers"]
        assert endpoint["port"] in {p["name"] for p in container["ports"]}
        assert pod["metadata"]["annotations"]["prometheus.io/path"] == endpoint["path"]
        # The relabelling reads the release label the operator puts on every pod.
        (relabel,) = endpoint["relabelings"]
        (source,) = relabel["sourceLabels"]
        assert pod["metadata"]["labels"][labels.RELEASE_LABEL] == "loan-default"
        assert source == "__meta_kubernetes_pod_label_" + re.sub(
            r"[^a-zA-Z0-9_]", "_", labels.RELEASE_LABEL
        )


def test_the_kustomization_names_every_manifest() -> None:
    kustomization = manifest("kustomization.yaml")
    named = set(kustomization["resources"])
    named |= {f for g in kustomization["configMapGenerator"] for f in g["files"]}
    present = {p.name for p in OBSERVABILITY.iterdir()} - {"kustomization.yaml"}
    assert named == present


# -- prometheus-operator's CRD schemas ------------------------------------------------------


@cache
def crd_folder() -> Path | None:
    """The pinned prometheus-operator module's CRD folder, from the Go module cache
    (downloaded through the module proxy once); None without Go or the module."""
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        return None
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / "modelrelease-prometheus-operator-crds"
    scratch.mkdir(parents=True, exist_ok=True)
    if not (scratch / "go.mod").exists():
        (scratch / "go.mod").write_text("module modelrelease.dev/tests/prometheus-operator-crds\n")
    done = subprocess.run(
        [go, "mod", "download", "-json", PROMETHEUS_OPERATOR],
        cwd=scratch,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        return None
    folder = Path(json.loads(done.stdout)["Dir"]) / CRD_FOLDER
    return folder if folder.is_dir() else None


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The CRD schema with unknown fields refused, as `kubectl apply` (strict field
    validation) refuses them instead of pruning them silently."""
    out = {k: strict(v) if isinstance(v, dict) else v for k, v in schema.items()}
    if "properties" in out:
        out["properties"] = {k: strict(v) for k, v in schema["properties"].items()}
        if "additionalProperties" not in out and not out.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = False
    if isinstance(out.get("items"), dict):
        out["items"] = strict(schema["items"])
    return out


@pytest.mark.parametrize(
    ("file", "plural"),
    [
        ("servicemonitor.yaml", "servicemonitors"),
        ("podmonitor.yaml", "podmonitors"),
        ("prometheusrule.yaml", "prometheusrules"),
    ],
)
def test_monitoring_objects_match_prometheus_operator_crds(file: str, plural: str) -> None:
    import jsonschema

    folder = crd_folder()
    if folder is None:
        pytest.skip(f"cannot fetch {PROMETHEUS_OPERATOR} (no Go or no module proxy)")
    crd = yaml.safe_load((folder / f"monitoring.coreos.com_{plural}.yaml").read_text())
    document = manifest(file)
    (version,) = (v for v in crd["spec"]["versions"] if v["name"] == "v1")
    assert document["apiVersion"] == f"{crd['spec']['group']}/v1"
    assert document["kind"] == crd["spec"]["names"]["kind"]
    schema = strict(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}
    # OpenAPI v3 schemas are JSON Schema draft 4 with extensions; the schema itself is not
    # checked, as its patterns are Go's regular expressions (`(?i)` mid-pattern).
    validator = jsonschema.Draft4Validator(schema)
    validator.validate(document)
    # And the same schema catches a misspelt field, so the check above means something.
    broken = {**document, "spec": {**document["spec"], "selektor": {}}}
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)
