"""Operator settings from the environment (set on the operator's Deployment)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from .training.jobs import GpuPlacement


def _pairs(text: str) -> dict[str, str]:
    """ "a=b,c=d" → {"a": "b", "c": "d"}."""
    pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
    return {key.strip(): value.strip() for key, value in pairs}


#: A namespace's name (a DNS-1123 label): exact names only, no Kopf glob patterns, which
#: would need the right to list every namespace.
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _namespaces(text: str) -> tuple[str, ...]:
    """ "team-a, team-b" → ("team-a", "team-b"); empty → () (every namespace)."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    bad = [name for name in names if not _NAMESPACE.fullmatch(name)]
    if bad:
        raise ValueError(
            f"MODELRELEASE_WATCH_NAMESPACES: not a namespace's name: {', '.join(bad)}"
            " (exact names, comma-separated; no patterns)"
        )
    return names


def _flag(text: str) -> bool:
    """ "true", "1", "yes", "on" (any case) → True; anything else → False."""
    return text.strip().lower() in ("true", "1", "yes", "on")


@dataclass(frozen=True)
class OperatorConfig:
    gpu: GpuPlacement = field(default_factory=GpuPlacement)
    metrics_port: int = 8080
    watch_server_timeout: int = 300
    resync_seconds: float = 20.0
    #: URL prefixes a release may make the operator fetch (reference.json, Prometheus);
    #: empty: any http(s) URL.
    fetch_allow: tuple[str, ...] = ()
    fetch_max_bytes: int = 4 * 1024 * 1024
    #: Releases reconciled at once by the tick loop.
    release_workers: int = 8
    #: Seconds every call of the operator's own to the Kubernetes API may take: to
    #: connect, and to wait for each read of the answer (kube.py).
    api_connect_timeout: float = 10.0
    api_timeout: float = 30.0
    #: Leader election on a Lease (docs/operations.md); off: this process always acts.
    leader_election: bool = False
    #: Who this process is in the Lease (the pod's name); empty: hostname and a suffix.
    leader_identity: str = ""
    #: The Lease's namespace; empty: the pod's (POD_NAMESPACE, or the ServiceAccount's).
    leader_namespace: str = ""
    leader_lease: str = "modelrelease-operator"
    lease_duration_seconds: int = 15
    lease_renew_deadline_seconds: float = 10.0
    lease_retry_seconds: float = 2.0
    #: /healthz fails when a periodic loop (the release ticks, the training resync, the
    #: lease's) has not completed a pass for this long (or three of its intervals).
    liveness_stale_seconds: float = 120.0
    #: The namespaces the operator watches and acts in (docs/operations.md, namespaced
    #: install); empty: every namespace. Kopf must be run with the same `--namespace`s.
    watch_namespaces: tuple[str, ...] = ()


def from_environment(environ: dict[str, str] | None = None) -> OperatorConfig:
    env = dict(os.environ if environ is None else environ)
    gpu = GpuPlacement()
    if "MODELRELEASE_GPU_NODE_SELECTOR" in env:
        gpu = GpuPlacement(
            node_selector=_pairs(env["MODELRELEASE_GPU_NODE_SELECTOR"]), tolerations=gpu.tolerations
        )
    if "MODELRELEASE_GPU_TOLERATION_KEY" in env:
        key = env["MODELRELEASE_GPU_TOLERATION_KEY"]
        tolerations = ({"key": key, "operator": "Exists", "effect": "NoSchedule"},) if key else ()
        gpu = GpuPlacement(node_selector=gpu.node_selector, tolerations=tolerations)
    return OperatorConfig(
        gpu=gpu,
        metrics_port=int(env.get("MODELRELEASE_METRICS_PORT", "8080")),
        watch_server_timeout=int(env.get("MODELRELEASE_WATCH_TIMEOUT", "300")),
        resync_seconds=float(env.get("MODELRELEASE_RESYNC_SECONDS", "20")),
        fetch_allow=tuple(
            p.strip() for p in env.get("MODELRELEASE_FETCH_ALLOW", "").split(",") if p.strip()
        ),
        fetch_max_bytes=int(env.get("MODELRELEASE_FETCH_MAX_BYTES", str(4 * 1024 * 1024))),
        release_workers=max(1, int(env.get("MODELRELEASE_RELEASE_WORKERS", "8"))),
        api_connect_timeout=float(env.get("MODELRELEASE_API_CONNECT_TIMEOUT", "10")),
        api_timeout=float(env.get("MODELRELEASE_API_TIMEOUT", "30")),
        leader_election=_flag(env.get("MODELRELEASE_LEADER_ELECTION", "")),
        leader_identity=env.get("MODELRELEASE_LEADER_IDENTITY") or env.get("POD_NAME", ""),
        leader_namespace=(env.get("MODELRELEASE_LEADER_NAMESPACE") or env.get("POD_NAMESPACE", "")),
        leader_lease=env.get("MODELRELEASE_LEADER_LEASE") or "modelrelease-operator",
        lease_duration_seconds=int(env.get("MODELRELEASE_LEASE_DURATION_SECONDS", "15")),
        lease_renew_deadline_seconds=float(
            env.get("MODELRELEASE_LEASE_RENEW_DEADLINE_SECONDS", "10")
        ),
        lease_retry_seconds=float(env.get("MODELRELEASE_LEASE_RETRY_SECONDS", "2")),
        liveness_stale_seconds=float(env.get("MODELRELEASE_LIVENESS_STALE_SECONDS", "120")),
        watch_namespaces=_namespaces(env.get("MODELRELEASE_WATCH_NAMESPACES", "")),
    )
