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
