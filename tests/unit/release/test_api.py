"""The ModelRelease models: defaults, rules mirrored from the CRD's CEL, the CRD itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from modelrelease_operator.api.release import ModelReleaseSpec, ModelReleaseStatus
from pydantic import ValidationError

CRD = Path(__file__).resolve().parents[3] / "crds" / "modelrelease.dev_modelreleases.yaml"
BASE: dict[str, Any] = {"modelName": "loan-default", "candidate": {"training": "t2"}}


def test_defaults_work_with_the_serving_image() -> None:
    spec = ModelReleaseSpec.model_validate(BASE)
    assert [s.weight for s in spec.stages] == [10, 25, 50, 100]
    assert spec.router.type == "replicas" and spec.analysis.provider.type == "scrape"
    assert spec.serving.readiness_probe.path == "/v2/health/ready"
    assert spec.analysis.gates.error_rate is not None
    assert spec.analysis.inconclusive == "Wait"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stages": [{"weight": 50}, {"weight": 20}]}, "weights must strictly increase"),
        ({"stages": [{"weight": 50}, {"weight": 50}]}, "weights must strictly increase"),
        ({"candidate": {"training": "t", "artifactUri": "s3://b/m", "digest": "a" * 64}}, "either"),
        ({"candidate": {"artifactUri": "s3://b/m", "version": "v"}}, "go together"),
        ({"candidate": {"artifactUri": "s3://b/m", "digest": "a" * 64}}, "needs a version"),
        ({"router": {"type": "gateway-api"}}, "gatewayApi is required"),
        (
            {"analysis": {"gates": {"custom": [{"name": "x", "query": "up", "max": 1}]}}},
            "need the prometheus provider",
        ),
        ({"analysis": {"provider": {"type": "prometheus"}}}, "prometheus is required"),
        ({"candidate": None}, "is required"),
        ({"candidate": {"training": "t", "fromTrainings": {}}}, "exactly one"),
        ({"candidate": {"training": "t", "policy": "Replace"}}, "policy: applies only"),
        ({"candidate": {"fromTrainings": {}, "version": "v9"}}, "spec.candidate.version"),
        ({"stable": {"fromTrainings": {}}}, "spec.stable.fromTrainings"),
        (
            {
                "candidate": {
                    "fromTrainings": {"matchExpressions": [{"key": "a", "operator": "Is"}]}
                }
            },
            "operator",
        ),
    ],
)
def test_invalid_specs_are_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelReleaseSpec.model_validate({**BASE, **change})


def test_status_round_trips_through_the_wire_form() -> None:
    status = ModelReleaseStatus(phase="Progressing", stage="2/4", candidate_weight=25)
    assert ModelReleaseStatus.model_validate(status.to_wire()) == status
    assert status.to_wire()["candidateWeight"] == 25


def test_crd_has_the_columns_and_rules() -> None:
    crd = yaml.safe_load(CRD.read_text())
    assert crd["spec"]["names"]["shortNames"] == ["mr"]
    version = crd["spec"]["versions"][0]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Phase": ".status.phase",
        "Stage": ".status.stage",
        "Weight": ".status.candidateWeight",
        "Stable": ".status.stableVersion",
        "Candidate": ".status.candidateVersion",
        "Health": ".status.health",
        "Retraining": ".status.retraining.current.name",
        "Age": ".metadata.creationTimestamp",
    }
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    messages = [r["message"] for r in spec["x-kubernetes-validations"]]
    messages += [r["message"] for r in spec["properties"]["stages"]["x-kubernetes-validations"]]
    assert any("custom PromQL gates" in m for m in messages)
    assert any("strictly increase" in m for m in messages)


def test_a_candidate_may_follow_trainings_by_label_selector() -> None:
    spec = ModelReleaseSpec.model_validate(
        {
            **BASE,
            "candidate": {
                "fromTrainings": {
                    "matchLabels": {"app.kubernetes.io/part-of": "loan-default"},
                    "matchExpressions": [{"key": "experiment", "operator": "DoesNotExist"}],
                },
                "policy": "Replace",
            },
        }
    )
    assert spec.candidate is not None and spec.candidate.from_trainings is not None
    assert spec.candidate.policy == "Replace"
    assert spec.candidate.from_trainings.match_expressions[0].operator == "DoesNotExist"


def test_crd_says_which_candidate_forms_go_together() -> None:
    crd = yaml.safe_load(CRD.read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    candidate = spec["properties"]["candidate"]
    messages = [r["message"] for r in candidate["x-kubernetes-validations"]]
    assert any("or fromTrainings (exactly one)" in m for m in messages)
    assert any(m.startswith("spec.candidate.policy") for m in messages)
    assert set(candidate["properties"]["policy"]["enum"]) == {"Queue", "Replace"}
    selector = candidate["properties"]["fromTrainings"]["properties"]
    assert {"matchLabels", "matchExpressions"} <= set(selector)
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert {"chosen", "reason", "skipped"} <= set(
        status["properties"]["candidateSelection"]["properties"]
    )


DIGEST = "a" * 64
ARTIFACT = {"artifactUri": "pvc://store/models/v2", "digest": DIGEST, "version": "v2"}
FOLLOWING = {"fromTrainings": {"matchLabels": {"app": "loan"}}}
LOOP = {
    "candidate": FOLLOWING,
    "monitoring": {"gates": {"errorRate": {"max": 0.01}}},
    "retraining": {"template": {"labels": {"app": "loan"}, "spec": {}}},
}


def durations(path: str, low: str, high: str, below: str, above: str) -> list[Any]:
    """A duration field at both ends of its range, just outside them, and absurd."""
    return [
        pytest.param(path, low, True, id=f"{path}={low}"),
        pytest.param(path, high, True, id=f"{path}={high}"),
        pytest.param(path, below, False, id=f"{path}={below}"),
        pytest.param(path, above, False, id=f"{path}={above}"),
        pytest.param(path, "0s", False, id=f"{path}=0s"),
        pytest.param(path, "100000000000000s", False, id=f"{path}=absurd"),
        pytest.param(path, "9" * 30 + "h", False, id=f"{path}=overflow"),
    ]


def with_duration(path: str, value: str) -> dict[str, Any]:
    spec: dict[str, Any] = {**BASE, **LOOP}
    section, _, field = path.partition(".")
    if section == "stages":
        spec["stages"] = [{"weight": 100, "duration": value}]
    elif field:
        spec[section] = {**spec.get(section, {}), field: value}
    else:
        spec[section] = value
    return spec


@pytest.mark.parametrize(
    ("path", "value", "admitted"),
    [
        *durations("analysis.interval", "1s", "1h", "999ms", "1h0m1s"),
        *durations("stages.duration", "1s", "168h", "0.5s", "168h1s"),
        *durations("readinessDeadline", "1s", "24h", "500ms", "24h0.001s"),
        *durations("monitoring.interval", "1s", "1h", "0.999s", "61m"),
        *durations("monitoring.window", "1s", "720h", "999ms", "721h"),
        *durations("retraining.backoff", "1m", "720h", "59s", "720h1s"),
        pytest.param("analysis.interval", "59m60s", True, id="several-parts-at-the-bound"),
        pytest.param("analysis.interval", "0.25h", True, id="a-fraction"),
    ],
)
def test_every_duration_has_its_range(path: str, value: str, admitted: bool) -> None:
    spec = with_duration(path, value)
    if admitted:
        ModelReleaseSpec.model_validate(spec)
        return
    # The message names the field: the range's own message, or the pattern's error at its
    # location.
    with pytest.raises(ValidationError, match=path.split(".")[-1]):
        ModelReleaseSpec.model_validate(spec)


def test_the_operators_implied_last_stage_may_last_0s() -> None:
    from modelrelease_operator.api.release import Stage
    from modelrelease_operator.release.stages import plan

    spec = ModelReleaseSpec.model_validate({**BASE, "stages": [{"weight": 50}]})
    assert plan(spec).stages[-1] == Stage(weight=100, duration="0s", min_requests=0)


@pytest.mark.parametrize(
    "name",
    [
        "MODELRELEASE_SERVER_EXPECTED_DIGEST",
        "MODELRELEASE_SERVER_ARTIFACT",
        "MODELRELEASE_SERVER_MODEL_NAME",
        "MODELRELEASE_SERVER_MODEL_VERSION",
        "MODELRELEASE_SERVER_PORT",
        "MODELRELEASE_SERVER_FEEDBACK_KEY",
        "MODELRELEASE_SERVER_RELEASE",
        "modelrelease_server_expected_digest",  # the server reads its settings in any case
    ],
)
def test_serving_env_cannot_replace_what_the_operator_sets(name: str) -> None:
    spec = {**BASE, "serving": {"env": [{"name": name, "value": "x"}]}}
    with pytest.raises(ValidationError, match=r"spec\.serving\.env: the operator sets"):
        ModelReleaseSpec.model_validate(spec)


def test_serving_env_may_set_the_other_server_settings() -> None:
    env = [{"name": "MODELRELEASE_SERVER_WORKERS", "value": "2"}, {"name": "OMP_NUM_THREADS"}]
    spec = ModelReleaseSpec.model_validate({**BASE, "serving": {"env": env}})
    assert [e.name for e in spec.serving.env] == ["MODELRELEASE_SERVER_WORKERS", "OMP_NUM_THREADS"]


@pytest.mark.parametrize(
    "uri",
    [
        "pvc://store/../other-claim",
        "pvc://store/models/../../etc",
        "pvc://store/models/..",
        "pvc://../x",
        "pvc://Store/models",
        "pvc://",
    ],
)
@pytest.mark.parametrize("source", ["candidate", "stable"])
def test_a_pvc_artifact_stays_inside_its_claim(source: str, uri: str) -> None:
    spec = {**BASE, source: {**ARTIFACT, "artifactUri": uri}}
    with pytest.raises(ValidationError, match=r"spec.candidate/spec.stable.artifactUri: .*pvc://"):
        ModelReleaseSpec.model_validate(spec)


@pytest.mark.parametrize(
    "uri", ["pvc://store/models/v2", "pvc://store", "pvc://store/a..b/..c/v.2", "s3://b/../m"]
)
def test_pvc_paths_without_dot_dot_segments_are_fine(uri: str) -> None:
    ModelReleaseSpec.model_validate({**BASE, "candidate": {**ARTIFACT, "artifactUri": uri}})


LONG = "a" * 5000


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"candidate": {**ARTIFACT, "artifactUri": "s3://b/" + LONG}}, "artifactUri"),
        ({"serving": {"image": "registry.example.com/" + LONG}}, "image"),
        ({"serving": {"image": "server:0.1 "}}, "image"),
        ({"serving": {"env": [{"name": "A", "value": LONG}]}}, "value"),
        ({"serving": {"env": [{"name": "A" * 257}]}}, "name"),
        ({"serving": {"env": [{"name": f"E{i}"} for i in range(65)]}}, "env"),
        ({"serving": {"nodeSelector": {"pool": "a" * 64}}}, "nodeSelector"),
        ({"serving": {"nodeSelector": {"bad key": "x"}}}, "spec.serving.nodeSelector: keys"),
        ({"serving": {"nodeSelector": {f"k{i}": "v" for i in range(65)}}}, "nodeSelector"),
        ({"serving": {"podAnnotations": {"a": LONG}}}, "podAnnotations"),
        ({"serving": {"podAnnotations": {f"k{i}": "v" for i in range(33)}}}, "podAnnotations"),
        ({"serving": {"podAnnotations": {"x" * 254 + "/name": "v"}}}, "podAnnotations: keys"),
        ({"serving": {"serviceAccountName": "Not_A_Name"}}, "serviceAccountName"),
        ({"serving": {"resources": {"cpu": "1" * 33}}}, "cpu"),
        ({"serving": {"resources": {"cpu": "2", "cpuLimit": "1500m"}}}, "cpuLimit: must be"),
        ({"serving": {"resources": {"memory": "1Gi", "memoryLimit": "1000Mi"}}}, "memoryLimit"),
        ({"serving": {"readinessProbe": {"path": "/" + LONG}}}, "path"),
        ({"serving": {"readinessProbe": {"path": "/", "periodSeconds": 2**31}}}, "periodSeconds"),
        (
            {"analysis": {"provider": {"type": "prometheus", "prometheus": {"address": LONG}}}},
            "address",
        ),
        (
            {
                "analysis": {
                    "provider": {"type": "prometheus", "prometheus": {"address": "http://p"}},
                    "gates": {"custom": [{"name": "q", "query": LONG, "max": 1}]},
                }
            },
            "query",
        ),
        (
            {"candidate": {"fromTrainings": {"matchLabels": {"app": "a b"}}}},
            "matchLabels",
        ),
        (
            {
                "candidate": {
                    "fromTrainings": {"matchExpressions": [{"key": "a", "operator": "In"}]}
                }
            },
            "In and NotIn need values",
        ),
        (
            {
                "candidate": {
                    "fromTrainings": {
                        "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
                    }
                }
            },
            "Exists and DoesNotExist take none",
        ),
        (
            {
                "router": {
                    "type": "gateway-api",
                    "gatewayApi": {"parentRefs": [{"name": "gw"}], "hostnames": ["a b"]},
                }
            },
            "hostnames",
        ),
        (
            {
                "router": {
                    "type": "gateway-api",
                    "gatewayApi": {"parentRefs": [{"name": "gw"}], "pathPrefix": "/a/../b"},
                }
            },
            "pathPrefix",
        ),
        (
            {"router": {"type": "gateway-api", "gatewayApi": {"parentRefs": [{"name": "g"}] * 2}}},
            "parentRefs: each parent once",
        ),
        (
            {
                **LOOP,
                "retraining": {"template": {"labels": {"app": "loan", "-x": "y"}, "spec": {}}},
            },
            "spec.retraining.template.labels: keys",
        ),
        (
            {
                **LOOP,
                "retraining": {
                    "template": {"spec": {}},
                    "triggers": {"schedule": {"cron": "@daily", "timeZone": "../etc/passwd"}},
                },
            },
            "timeZone",
        ),
    ],
)
def test_strings_lists_and_maps_are_bounded(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ModelReleaseSpec.model_validate({**BASE, **change})


def test_the_examples_bounds_leave_room_for_real_values() -> None:
    spec = ModelReleaseSpec.model_validate(
        {
            **BASE,
            "serving": {
                "image": "registry.example.com:5000/ml/server@sha256:" + "0" * 64,
                "nodeSelector": {"kubernetes.io/arch": "amd64", "pool": ""},
                "podAnnotations": {"prometheus.io/scrape": "true", "note": "x" * 4096},
                "resources": {
                    "cpu": "1",
                    "cpuLimit": "1000m",
                    "memory": "1Gi",
                    "memoryLimit": "1Gi",
                },
                "serviceAccountName": "system.serving-1",
            },
            "router": {
                "type": "gateway-api",
                "gatewayApi": {
                    "parentRefs": [
                        {"name": "gw", "sectionName": "http"},
                        {"name": "gw", "sectionName": "https"},
                        {"name": "gw", "namespace": "infra"},
                    ],
                    "hostnames": ["*.example.com", "models.example.com"],
                    "pathPrefix": "/v2/models",
                },
            },
        }
    )
    assert spec.serving.resources.cpu_limit == "1000m"


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("1m30s", 90 * 10**9),
        ("250ms", 250 * 10**6),
        ("1.5h", 5400 * 10**9),
        ("0.1s", 10**8),
        ("1.0000000001s", 10**9),  # Go keeps nanoseconds and drops the rest
        ("2562047h47m16.854775807s", 2**63 - 1),  # Go's largest duration
    ],
)
def test_durations_read_as_go_reads_them(text: str, nanoseconds: int) -> None:
    from modelrelease_operator.release.durations import duration_nanoseconds, parse_duration

    assert duration_nanoseconds(text) == nanoseconds
    assert parse_duration(text).total_seconds() == pytest.approx(nanoseconds / 1e9, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("100000000000000s", "out of range"),
        ("2562047h47m16.854775808s", "out of range"),
        ("9" * 5000 + "h", "out of range"),
        ("1" + "0" * 400 + ".5m", "out of range"),
        ("", "not a duration"),
        ("1h1", "not a duration"),
        ("-1s", "not a duration"),
        ("1d", "not a duration"),
    ],
)
def test_absurd_durations_are_a_value_error_that_says_so(text: str, says: str) -> None:
    """An object admitted by an older CRD must not make the operator raise OverflowError."""
    from modelrelease_operator.release.durations import parse_duration

    with pytest.raises(ValueError, match=says):
        parse_duration(text)
