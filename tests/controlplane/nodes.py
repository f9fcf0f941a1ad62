"""The simulated nodes kwok keeps Ready: two CPU nodes and one tainted GPU node."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: kwok manages exactly the nodes with this annotation (--manage-nodes-with-annotation-selector).
KWOK_ANNOTATION = {"kwok.x-k8s.io/node": "fake"}
GPU_RESOURCE = "nvidia.com/gpu"
GPU_LABEL = "nvidia.com/gpu.present"


@dataclass(frozen=True)
class SimulatedNode:
    name: str
    cpu: str = "8"
    memory: str = "32Gi"
    pods: str = "110"
    extended: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)

    def manifest(self) -> dict[str, Any]:
        capacity = {"cpu": self.cpu, "memory": self.memory, "pods": self.pods, **self.extended}
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "annotations": dict(KWOK_ANNOTATION),
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                    **self.labels,
                },
            },
            "spec": {"taints": list(self.taints)} if self.taints else {},
            # Nodes may carry status on create; kwok keeps capacity and allocatable.
            "status": {"capacity": capacity, "allocatable": dict(capacity)},
        }


CPU_NODES = (SimulatedNode("cpu-node-1"), SimulatedNode("cpu-node-2"))
GPU_NODE = SimulatedNode(
    "gpu-node-1",
    extended={GPU_RESOURCE: "1"},
    labels={GPU_LABEL: "true"},
    taints=[{"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}],
)
DEFAULT_NODES = (*CPU_NODES, GPU_NODE)
