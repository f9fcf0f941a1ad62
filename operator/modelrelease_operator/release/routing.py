"""The cluster objects a release's status asks for: Deployments, Services, an HTTPRoute.

A pure function of spec and status, so that the handler can always bring the cluster
back to what status says (after a restart, after someone edits an object by hand).
Each version has its own Deployment, named after the version; pods are selected by
version, and the `modelrelease.dev/track` label (stable, candidate, previous) sits on
the Deployment only, so promoting a candidate never restarts its pods.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .. import labels, security
from ..api import API_VERSION
from ..api.release import ModelRef, ModelReleaseSpec, ModelReleaseStatus
from ..api.release_status import ROLLING
from ..labels import TRACK_LABEL, VERSION_LABEL
from .stages import target_weight

Track = Literal["stable", "candidate", "previous"]
ARTIFACT_MOUNT = "/var/lib/modelrelease/artifacts"
SERVICE_PORT = 80
GATEWAY_GROUP = "gateway.networking.k8s.io"
HTTPROUTE_API = f"{GATEWAY_GROUP}/v1"
#: Seconds a terminating serving pod keeps taking new requests before the server hears
#: SIGTERM: kube-proxy and gateways stop sending to a deleted endpoint only about that
#: much later, and would otherwise open connections to a closed port at every scale-down.
DRAIN_SECONDS = 5
#: The server's own graceful shutdown (its default) after the drain.
SHUTDOWN_SECONDS = 30


#: The server's HMAC key for feedback ids (docs/serving.md); set here, not by serving.env.
FEEDBACK_KEY_ENV = "MODELRELEASE_SERVER_FEEDBACK_KEY"


@dataclass(frozen=True)
class Owner:
    """The ModelRelease the objects belong to."""

    name: str
    namespace: str
    uid: str


def _feedback_key_env(name: str) -> bool:
    # The server reads its settings from the environment case-insensitively.
    return name.upper() == FEEDBACK_KEY_ENV


def feedback_key(owner: Owner) -> str:
    """The release's feedback key: its uid, unknown to clients outside the cluster and new
    when the release is recreated (ids issued before are then unknown)."""
    return owner.uid


@dataclass(frozen=True)
class Desired:
    deployments: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)


def replica_split(replicas: int, weight: int) -> tuple[int, int]:
    """(stable, candidate) pods so that the candidate's share of pods is near `weight`.

    Any weight between 0 and 100 keeps at least one pod of each version:
    replicas 4, weight 25 → candidate 1, stable 3; replicas 4, weight 10 → 1 and 3
    (25%, the nearest a split of four allows); replicas 10, weight 33 → 3 and 7;
    replicas 2, weight 99 → 1 and 1; replicas 1, weight 50 → 1 and 1 (one extra pod
    rather than no candidate or no stable);
    weight 0 → all stable; weight 100 → all candidate.
    """
    if weight <= 0:
        return replicas, 0
    if weight >= 100:
        return 0, replicas
    candidate = min(max(1, math.floor(replicas * weight / 100 + 0.5)), max(1, replicas - 1))
    return max(1, replicas - candidate), candidate


def effective_weight(replicas: int, weight: int) -> int:
    """The candidate's share of pods that `replica_split` gives, in percent."""
    stable, candidate = replica_split(replicas, weight)
    return round(100 * candidate / (stable + candidate)) if stable + candidate else 0


def dns_part(version: str) -> str:
    """A version as part of an object name: "Loan_v2.1" → "loan-v2-1"."""
    return re.sub(r"[^a-z0-9-]+", "-", version.lower()).strip("-") or "model"


def deployment_name(owner: str, version: str) -> str:
    return labels.child_name(owner, dns_part(version))


def _common_labels(spec: ModelReleaseSpec, owner: Owner) -> dict[str, str]:
    return {
        **labels.standard(name=spec.model_name, component="model-server", instance=owner.name),
        labels.RELEASE_LABEL: owner.name,
        labels.MODEL_LABEL: spec.model_name,
    }


def _pod_labels(spec: ModelReleaseSpec, owner: Owner, model: ModelRef) -> dict[str, str]:
    return {
        **_common_labels(spec, owner),
        "app.kubernetes.io/version": labels.label_value(model.version),
        VERSION_LABEL: labels.label_value(model.version),
    }


def _metadata(
    name: str, owner: Owner, object_labels: dict[str, str], kind: str = "ModelRelease"
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": object_labels,
        "ownerReferences": [
            labels.owner_reference(
                api_version=API_VERSION, kind=kind, name=owner.name, uid=owner.uid
            )
        ],
    }


def _artifact(model: ModelRef) -> tuple[str, dict[str, Any] | None]:
    """(what the server loads, the volume to mount or None).

    pvc://store/models/v2 → ("/var/lib/modelrelease/artifacts/models/v2", claim "store").
    """
    if not model.uri.startswith("pvc://"):
        return model.uri, None
    claim, _, path = model.uri.removeprefix("pvc://").partition("/")
    local = "/".join(p for p in (ARTIFACT_MOUNT, path) if p)
    volume = {"name": "artifacts", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
    return local, volume


def _probe(probe: Any) -> dict[str, Any]:
    return {
        "httpGet": {"path": probe.path, "port": "http"},
        "initialDelaySeconds": probe.initial_delay_seconds,
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "failureThreshold": probe.failure_threshold,
    }


def deployment(
    spec: ModelReleaseSpec, owner: Owner, model: ModelRef, track: Track, replicas: int
) -> dict[str, Any]:
    """One version's Deployment: the serving image told which artifact and digest to load."""
    serving = spec.serving
    artifact, volume = _artifact(model)
    env = [
        {"name": "MODELRELEASE_SERVER_ARTIFACT", "value": artifact},
        {"name": "MODELRELEASE_SERVER_EXPECTED_DIGEST", "value": model.digest},
        {"name": "MODELRELEASE_SERVER_MODEL_NAME", "value": spec.model_name},
        {"name": "MODELRELEASE_SERVER_MODEL_VERSION", "value": model.version},
        {"name": "MODELRELEASE_SERVER_PORT", "value": str(serving.port)},
        # The API refuses the key in serving.env; an object stored before it did keeps it.
        *({"name": e.name, "value": e.value} for e in serving.env if not _feedback_key_env(e.name)),
        # Every pod of the release, of either version, judges the feedback ids any of
        # them issued, and no other release's: one key per release, the same for all.
        {"name": FEEDBACK_KEY_ENV, "value": feedback_key(owner)},
    ]
    resources = serving.resources
    container: dict[str, Any] = {
        "name": "server",
        "image": serving.image,
        "env": env,
        "ports": [{"name": "http", "containerPort": serving.port, "protocol": "TCP"}],
        "readinessProbe": _probe(serving.readiness_probe),
        "livenessProbe": _probe(serving.liveness_probe),
        "resources": {
            "requests": {"cpu": resources.cpu, "memory": resources.memory},
            "limits": {
                "cpu": resources.cpu_limit or resources.cpu,
                "memory": resources.memory_limit or resources.memory,
            },
        },
        "securityContext": security.container_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "lifecycle": {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}},
    }
    if serving.credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": serving.credentials_secret}}]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    if volume is not None:
        volumes.append(volume)
        container["volumeMounts"].append(
            {"name": "artifacts", "mountPath": ARTIFACT_MOUNT, "readOnly": True}
        )
    pod_labels = _pod_labels(spec, owner, model)
    pod_spec: dict[str, Any] = {
        "securityContext": security.pod_security_context(),
        "containers": [container],
        "volumes": volumes,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": DRAIN_SECONDS + SHUTDOWN_SECONDS,
    }
    if serving.service_account_name:
        pod_spec["serviceAccountName"] = serving.service_account_name
    if serving.node_selector:
        pod_spec["nodeSelector"] = dict(serving.node_selector)
    annotations = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(serving.port),
        "prometheus.io/path": "/metrics",
        **serving.pod_annotations,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(
            deployment_name(owner.name, model.version),
            owner,
            {**pod_labels, TRACK_LABEL: track},
        ),
        "spec": {
            "replicas": replicas,
            "selector": {
                "matchLabels": {
                    labels.RELEASE_LABEL: owner.name,
                    VERSION_LABEL: pod_labels[VERSION_LABEL],
                }
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": pod_labels, "annotations": annotations},
                "spec": pod_spec,
            },
        },
    }


def replicas(spec: ModelReleaseSpec, status: ModelReleaseStatus) -> tuple[int, int]:
    """(stable, candidate) pod counts that status asks for.

    While rolling, the candidate is sized for the stage it is entering (so its pods are
    ready before the weight moves) and the stable for the weight already applied.
    """
    total = spec.serving.replicas
    rolling = status.phase in ROLLING and status.candidate is not None
    if not rolling:
        return total, 0
    target = target_weight(spec, status)
    if spec.router.type == "gateway-api":
        # Exact weights come from the route: keep stable at full size, for an instant
        # rollback, and give the candidate pods in proportion to its share.
        return total, max(1, math.ceil(total * target / 100))
    candidate = replica_split(total, target)[1]
    stable = replica_split(total, status.candidate_weight)[0]
    return stable, candidate


def deployments(
    spec: ModelReleaseSpec, status: ModelReleaseStatus, owner: Owner
) -> list[dict[str, Any]]:
    stable_count, candidate_count = replicas(spec, status)
    found: dict[str, dict[str, Any]] = {}
    if status.previous is not None:
        found[status.previous.digest] = deployment(spec, owner, status.previous, "previous", 0)
    if status.candidate is not None and status.deployed_at is not None:
        found[status.candidate.digest] = deployment(
            spec, owner, status.candidate, "candidate", candidate_count
        )
    if status.stable is not None:
        found[status.stable.digest] = deployment(spec, owner, status.stable, "stable", stable_count)
    return list(found.values())


def _service(name: str, owner: Owner, spec: ModelReleaseSpec, selector: dict[str, str]) -> Any:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, owner, _common_labels(spec, owner)),
        "spec": {
            "selector": selector,
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def _selects(owner: Owner, model: ModelRef) -> dict[str, str]:
    return {labels.RELEASE_LABEL: owner.name, VERSION_LABEL: labels.label_value(model.version)}


def services(
    spec: ModelReleaseSpec, status: ModelReleaseStatus, owner: Owner
) -> list[dict[str, Any]]:
    """replicas: one Service over both versions. gateway-api: one per track; the
    candidate's selects the stable pods when there is no candidate, never nothing."""
    if spec.router.type == "replicas":
        return [_service(owner.name, owner, spec, {labels.RELEASE_LABEL: owner.name})]
    if status.stable is None:
        return []
    rolling = status.phase in ROLLING and status.candidate is not None
    candidate = status.candidate if rolling and status.candidate else status.stable
    return [
        _service(
            labels.child_name(owner.name, "stable"), owner, spec, _selects(owner, status.stable)
        ),
        _service(
            labels.child_name(owner.name, "candidate"), owner, spec, _selects(owner, candidate)
        ),
    ]


def http_route(
    spec: ModelReleaseSpec, status: ModelReleaseStatus, owner: Owner
) -> dict[str, Any] | None:
    """The HTTPRoute of the gateway-api router: exact weights on the two Services."""
    gateway = spec.router.gateway_api
    if spec.router.type != "gateway-api" or gateway is None or status.stable is None:
        return None
    weight = status.candidate_weight if status.phase in ROLLING else 0
    parents = [
        {
            "group": GATEWAY_GROUP,
            "kind": "Gateway",
            "name": ref.name,
            **({"namespace": ref.namespace} if ref.namespace else {}),
            **({"sectionName": ref.section_name} if ref.section_name else {}),
        }
        for ref in gateway.parent_refs
    ]
    route_spec: dict[str, Any] = {
        "parentRefs": parents,
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": gateway.path_prefix}}],
                "backendRefs": [
                    {
                        "group": "",
                        "kind": "Service",
                        "name": labels.child_name(owner.name, track),
                        "port": SERVICE_PORT,
                        "weight": share,
                    }
                    for track, share in (("stable", 100 - weight), ("candidate", weight))
                ],
            }
        ],
    }
    if gateway.hostnames:
        route_spec["hostnames"] = list(gateway.hostnames)
    return {
        "apiVersion": HTTPROUTE_API,
        "kind": "HTTPRoute",
        "metadata": _metadata(owner.name, owner, _common_labels(spec, owner)),
        "spec": route_spec,
    }


def desired(spec: ModelReleaseSpec, status: ModelReleaseStatus, owner: Owner) -> Desired:
    route = http_route(spec, status, owner)
    return Desired(
        deployments=deployments(spec, status, owner),
        services=services(spec, status, owner),
        routes=[route] if route is not None else [],
    )
