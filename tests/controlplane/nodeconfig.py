"""The real node's configuration files: the CNI network, the KubeletConfiguration and
the KubeProxyConfiguration (realnode.py writes and starts them).

Addresses: the node is 10.245.0.1 on its own bridge, its pods take 10.245.0.0/24 —
apart from kwok's pod addresses (10.244.0.0/16), kwok's node address (10.240.0.1) and
the services (10.0.0.0/24).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REAL_NODE_LABEL = "modelrelease.dev/node-kind"
REAL_NODE_SELECTOR = {REAL_NODE_LABEL: "real"}
POD_CIDR = "10.245.0.0/24"
NODE_IP = "10.245.0.1"
#: The cluster's Service addresses (kube-apiserver --service-cluster-ip-range).
SERVICE_CIDR = "10.0.0.0/24"
BRIDGE = "mr-cni0"
CNI_NETWORK = "modelrelease-realnode"
CNI_BIN_DIR = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")


def cni_conflist(ipam_dir: Path) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                    # Not /var/lib/cni/networks: the leases go with the node's folder.
                    "dataDir": str(ipam_dir),
                    # Pods reach Services (kube-proxy's rules on this host) and, on the
                    # bridge, each other and the host; no default route: nothing else.
                    "routes": [{"dst": SERVICE_CIDR}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "loopback"},
        ],
    }


def kubelet_config(
    *,
    folder: Path,
    port: int,
    healthz_port: int,
    serving: tuple[Path, Path],
    client_ca: Path,
    runtime_endpoint: str,
) -> dict[str, Any]:
    cert, key = serving
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(cert),
        "tlsPrivateKeyFile": str(key),
        # The API server (logs, exec, pod proxy) comes with a client certificate of
        # the cluster CA; what it may do is asked of the API server (SubjectAccessReview).
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": runtime_endpoint,
        "podCIDR": POD_CIDR,
        "podLogsDir": str(folder / "pod-logs"),
        "volumePluginDir": str(folder / "volume-plugins"),
        # cgroup v1 without systemd, as root without CAP_SYS_RESOURCE.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "localStorageCapacityIsolation": False,
        "oomScoreAdj": 0,
        # No KUBE-FIREWALL/KUBE-IPTABLES-HINT chains from the kubelet.
        "makeIPTablesUtilChains": False,
        # Imported images can never be pulled again: never collect them, never evict.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "1Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        # No cluster DNS and not the host's resolver either: pods resolve nothing.
        "resolvConf": "",
        "maxPods": 50,
        "serializeImagePulls": False,
        "nodeStatusReportFrequency": "10s",
    }


def kube_proxy_config(
    *, name: str, kubeconfig: Path, healthz_port: int, metrics_port: int
) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": name,
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "nodePortAddresses": [f"{NODE_IP}/32"],
        # Leave the host's conntrack limits and route_localnet as they are.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"localhostNodePorts": False, "syncPeriod": "30s", "minSyncPeriod": "0s"},
    }
