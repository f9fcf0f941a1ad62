"""The Deployments, Services and HTTPRoute that a status asks for."""

from __future__ import annotations

from typing import Any

import pytest
from modelrelease_operator.api.release import EnvVar, ModelReleaseStatus
from modelrelease_operator.release import routing
from modelrelease_operator.release.routing import Owner, replica_split

from .builders import V1, V2, make_spec, steady

OWNER = Owner("loan-default", "models", "uid-1")
GATEWAY = {"type": "gateway-api", "gatewayApi": {"parentRefs": [{"name": "public"}]}}


@pytest.mark.parametrize(
    ("replicas", "weight", "stable", "candidate"),
    [
        (4, 0, 4, 0),
        (4, 10, 3, 1),
        (4, 25, 3, 1),
        (4, 50, 2, 2),
        (4, 75, 1, 3),
        (4, 100, 0, 4),
        (10, 33, 7, 3),
        (1, 50, 1, 1),
        (2, 1, 1, 1),
        (2, 99, 1, 1),
    ],
)
def test_replica_split(replicas: int, weight: int, stable: int, candidate: int) -> None:
    assert replica_split(replicas, weight) == (stable, candidate)


def rolling(stage: int, weight: int, **extra: Any) -> ModelReleaseStatus:
    return ModelReleaseStatus(
        phase="Progressing",
        stable=V1,
        candidate=V2,
        stage_index=stage,
        candidate_weight=weight,
        deployed_at="2026-11-23T10:00:00Z",
        **extra,
    )


def by_track(objects: list[dict[str, Any]]) -> dict[str, tuple[str, int]]:
    return {
        d["metadata"]["labels"][routing.TRACK_LABEL]: (d["metadata"]["name"], d["spec"]["replicas"])
        for d in objects
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (steady(), {"stable": ("loan-default-v1", 4)}),
        # Stage 2 (25%) entered, weight still 10%: the candidate is sized first.
        (rolling(1, 10), {"stable": ("loan-default-v1", 3), "candidate": ("loan-default-v2", 1)}),
        (rolling(2, 50), {"stable": ("loan-default-v1", 2), "candidate": ("loan-default-v2", 2)}),
        (rolling(3, 50), {"stable": ("loan-default-v1", 2), "candidate": ("loan-default-v2", 4)}),
        (rolling(3, 100), {"stable": ("loan-default-v1", 0), "candidate": ("loan-default-v2", 4)}),
        (
            rolling(1, 0).model_copy(update={"phase": "RolledBack"}),
            {"stable": ("loan-default-v1", 4), "candidate": ("loan-default-v2", 0)},
        ),
        (
            ModelReleaseStatus(phase="Succeeded", stable=V2, previous=V1),
            {"stable": ("loan-default-v2", 4), "previous": ("loan-default-v1", 0)},
        ),
    ],
    ids=["steady", "sizing", "half", "growing", "full", "rolled-back", "promoted"],
)
def test_deployments_per_phase(status: ModelReleaseStatus, expected: dict[str, Any]) -> None:
    assert by_track(routing.deployments(make_spec(), status, OWNER)) == expected


def test_gateway_router_keeps_stable_full_and_sizes_the_candidate_by_share() -> None:
    spec = make_spec(router=GATEWAY)
    assert by_track(routing.deployments(spec, rolling(0, 10), OWNER)) == {
        "stable": ("loan-default-v1", 4),
        "candidate": ("loan-default-v2", 1),
    }


def test_a_deployment_serves_the_artifact_safely() -> None:
    [stable] = routing.deployments(make_spec(), steady(), OWNER)
    meta, template = stable["metadata"], stable["spec"]["template"]
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "modelrelease-operator"
    assert meta["labels"]["app.kubernetes.io/instance"] == "loan-default"
    assert meta["labels"]["modelrelease.dev/track"] == "stable"
    assert meta["ownerReferences"][0]["kind"] == "ModelRelease"
    # The track is not on the pods: promoting must not restart them.
    assert routing.TRACK_LABEL not in template["metadata"]["labels"]
    assert stable["spec"]["selector"]["matchLabels"] == {
        "modelrelease.dev/release": "loan-default",
        "modelrelease.dev/version": "v1",
    }
    [container] = template["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MODELRELEASE_SERVER_ARTIFACT"] == "/var/lib/modelrelease/artifacts/loan-default/v1"
    assert env["MODELRELEASE_SERVER_EXPECTED_DIGEST"] == V1.digest
    assert env["MODELRELEASE_SERVER_MODEL_VERSION"] == "v1"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    claim = next(v for v in template["spec"]["volumes"] if v["name"] == "artifacts")
    assert claim["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}


def env_of(deployment: dict[str, Any]) -> list[tuple[str, str]]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return [(e["name"], e["value"]) for e in container["env"]]


def test_both_versions_share_the_release_feedback_key_and_no_other_release_has_it() -> None:
    spec = make_spec()
    # The API refuses the key in serving.env; an object stored before it did may have it.
    stale = [
        EnvVar.model_construct(name="modelrelease_server_feedback_key", value="x"),
        EnvVar(name="MODELRELEASE_SERVER_WORKERS", value="2"),
    ]
    spec = spec.model_copy(update={"serving": spec.serving.model_copy(update={"env": stale})})
    both = routing.deployments(spec, rolling(2, 50), OWNER)
    keys = [[v for n, v in env_of(d) if n.upper() == routing.FEEDBACK_KEY_ENV] for d in both]
    # One entry each, the release's own: serving.env cannot replace or shadow it.
    assert keys == [[OWNER.uid], [OWNER.uid]]
    assert all(("MODELRELEASE_SERVER_WORKERS", "2") in env_of(d) for d in both)
    other = Owner("loan-default", "other-namespace", "uid-2")
    [elsewhere] = routing.deployments(make_spec(), steady(), other)
    assert dict(env_of(elsewhere))[routing.FEEDBACK_KEY_ENV] == "uid-2"


def test_a_scaled_down_pod_keeps_serving_until_its_endpoint_is_gone() -> None:
    [stable] = routing.deployments(make_spec(), steady(), OWNER)
    pod = stable["spec"]["template"]["spec"]
    [container] = pod["containers"]
    drain = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert drain >= 3
    # The grace period covers the drain and the server's own graceful shutdown.
    assert pod["terminationGracePeriodSeconds"] >= drain + 30


def test_replicas_router_has_one_service_over_both_versions() -> None:
    [service] = routing.services(make_spec(), rolling(0, 10), OWNER)
    assert service["metadata"]["name"] == "loan-default"
    assert service["spec"]["selector"] == {"modelrelease.dev/release": "loan-default"}
    assert routing.http_route(make_spec(), rolling(0, 10), OWNER) is None


@pytest.mark.parametrize(
    ("status", "candidate_selects", "weights"),
    [
        (steady(), "v1", (100, 0)),
        (rolling(1, 25), "v2", (75, 25)),
        (rolling(1, 0).model_copy(update={"phase": "RolledBack"}), "v1", (100, 0)),
        (ModelReleaseStatus(phase="Succeeded", stable=V2, previous=V1), "v2", (100, 0)),
    ],
    ids=["steady", "rolling", "rolled-back", "promoted"],
)
def test_gateway_router_services_and_route(
    status: ModelReleaseStatus, candidate_selects: str, weights: tuple[int, int]
) -> None:
    spec = make_spec(router=GATEWAY)
    stable_svc, candidate_svc = routing.services(spec, status, OWNER)
    assert stable_svc["metadata"]["name"] == "loan-default-stable"
    assert stable_svc["spec"]["selector"]["modelrelease.dev/version"] == status.stable.version  # type: ignore[union-attr]
    assert candidate_svc["spec"]["selector"]["modelrelease.dev/version"] == candidate_selects
    route = routing.http_route(spec, status, OWNER)
    assert route is not None and route["kind"] == "HTTPRoute"
    assert route["spec"]["parentRefs"][0]["name"] == "public"
    backends = route["spec"]["rules"][0]["backendRefs"]
    assert [b["name"] for b in backends] == ["loan-default-stable", "loan-default-candidate"]
    assert tuple(b["weight"] for b in backends) == weights


def test_long_names_stay_dns_labels() -> None:
    name = routing.deployment_name("a" * 60, "Version_1.2")
    assert len(name) <= 63 and name == name.lower()
    assert routing.dns_part("Loan_v2.1") == "loan-v2-1"
