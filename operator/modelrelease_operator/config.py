"""Operator settings from the environment (set on the operator's Deployment)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .training.jobs import GpuPlacement


def _pairs(text: str) -> dict[str, str]:
    """ "a=b,c=d" → {"a": "b", "c": "d"}."""
    pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
    return {key.strip(): value.strip() for key, value in pairs}


@dataclass(frozen=True)
class OperatorConfig:
    gpu: GpuPlacement = field(default_factory=GpuPlacement)
    metrics_port: int = 8080
    watch_server_timeout: int = 300
    resync_seconds: float = 20.0


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
    )
