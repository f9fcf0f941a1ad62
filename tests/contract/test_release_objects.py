"""Every object a ModelRelease renders is valid: core kinds for a pinned Kubernetes
release, the HTTPRoute for the Gateway API CRD the integration tests install."""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from modelrelease_operator.api.release import ModelReleaseStatus
from modelrelease_operator.release import routing

from tests.unit.release.builders import V1, V2, make_spec

KUBERNETES = "1.36.0"
OWNER = routing.Owner("loan-default", "models", "uid-1")
GATEWAY = {"type": "gateway-api", "gatewayApi": {"parentRefs": [{"name": "public"}]}}
STATUSES = {
    "steady": ModelReleaseStatus(phase="Succeeded", stable=V1),
    "rolling": ModelReleaseStatus(
        phase="Progressing",
        stable=V1,
        candidate=V2,
        stage_index=1,
        candidate_weight=25,
        deployed_at="2026-11-23T10:00:00Z",
    ),
    "promoted": ModelReleaseStatus(phase="Succeeded", stable=V2, previous=V1),
}


def rendered() -> list[Any]:
    cases = []
    for router in ("replicas", "gateway-api"):
        spec = make_spec(router=GATEWAY) if router == "gateway-api" else make_spec()
        for name, status in STATUSES.items():
            desired = routing.desired(spec, status, OWNER)
            for obj in [*desired.deployments, *desired.services, *desired.routes]:
                label = f"{router}-{name}-{obj['kind']}-{obj['metadata']['name']}"
                cases.append(pytest.param(obj, id=label))
    return cases


@pytest.fixture(scope="module")
def http_route_schema() -> dict[str, Any]:
    from tests.integration.gateway_api import crd_documents

    try:
        documents = crd_documents()
    except (OSError, ValueError) as error:
        pytest.fail(f"the Gateway API CRDs are needed to check the HTTPRoute: {error}")
    [crd] = [d for d in documents if d["spec"]["names"]["kind"] == "HTTPRoute"]
    [served] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
    return schema


@pytest.mark.parametrize("obj", rendered())
def test_rendered_object_is_valid(obj: dict[str, Any], http_route_schema: dict[str, Any]) -> None:
    if obj["kind"] == "HTTPRoute":
        jsonschema.Draft4Validator(http_route_schema).validate(obj)
    else:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_every_router_renders_deployments_and_services() -> None:
    kinds = {case.values[0]["kind"] for case in rendered()}
    assert kinds == {"Deployment", "Service", "HTTPRoute"}
