"""A real worker node beside kwok's simulated ones: containerd (with Debian's runc and
CNI plugins), a kubelet and kube-proxy, joined to a running ControlPlane, so pods
really run.

    found = binaries.ensure(real_node=True)
    with ControlPlane(found.bin_dir, real_node=True) as cluster:
        node = cluster.real_node              # a RealNode, Ready
        digest = node.import_image(archive)   # OCI layout or docker/podman save tar
        # pods: nodeSelector REAL_NODE_SELECTOR, imagePullPolicy: Never

or `cluster.start_real_node()` on a running ControlPlane. The node (label
modelrelease.dev/node-kind=real) has the address 10.245.0.1 on its own bridge and
gives its pods 10.245.0.0/24 (nodeconfig.py). The kubelet serves on that address with
a certificate of the cluster CA and authorizes the API server (logs, exec, pod proxy)
by webhook; kube-proxy (iptables mode) makes Service addresses work from the host.
One real node runs per host at a time (hostsetup.py). Logs:
<workdir>/logs/{containerd,kubelet,kube-proxy}.log.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kubernetes
import yaml

from . import certs, hostsetup, kubeconfig, nodeconfig
from .containerd import Containerd
from .nodeconfig import BRIDGE, CNI_BIN_DIR, CNI_NETWORK, NODE_IP, REAL_NODE_SELECTOR
from .nodeimages import pause_image
from .processes import Process, free_port, wait_until

if TYPE_CHECKING:
    from .cluster import ControlPlane

log = logging.getLogger(__name__)

APT_PACKAGES = "runc containernetworking-plugins iptables iproute2"
NODE_BINARIES = ("kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "pause")
KUBELET_API_BINDING = "modelrelease:apiserver-kubelet-client"
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class RealNodeError(RuntimeError):
    pass


def missing_host_parts() -> str | None:
    """None when this host can run a real node, else one line saying what to install."""
    missing = [] if shutil.which("runc", path=HOST_PATH) else ["runc"]
    missing += [
        f"{CNI_BIN_DIR}/{name}"
        for name in nodeconfig.CNI_PLUGINS
        if not (CNI_BIN_DIR / name).is_file()
    ]
    tools = ("iptables", "iptables-save", "iptables-restore", "ip")
    missing += [name for name in tools if not shutil.which(name, path=HOST_PATH)]
    if not missing:
        return None
    return f"real node: {', '.join(missing)} missing (apt-get install {APT_PACKAGES})"


def _attempt(action: Callable[[], object]) -> None:
    """One teardown step: a failure is logged, and the steps after it still run."""
    try:
        action()
    except Exception as error:
        log.warning("real node teardown: %s", error)


class RealNode:
    def __init__(
        self, cluster: ControlPlane, name: str = "real-node-1", *, start_timeout: float = 120.0
    ) -> None:
        self.cluster = cluster
        self.name = name
        self.bin_dir = cluster.bin_dir
        self.folder = cluster.workdir / "node"
        self.logs = cluster.workdir / "logs"
        self.start_timeout = start_timeout
        #: The node's InternalIP (its pods' gateway) and its label, as key=value.
        self.address = NODE_IP
        self.label = ",".join(f"{key}={value}" for key, value in REAL_NODE_SELECTOR.items())
        self.processes: dict[str, Process] = {}
        #: Seconds each step of start() took, in order.
        self.timings: dict[str, float] = {}
        runc = Path(shutil.which("runc", path=HOST_PATH) or "/usr/sbin/runc")
        self.containerd = Containerd(
            self.bin_dir,
            self.folder / "containerd",
            self.logs / "containerd.log",
            cni_conf_dir=self.folder / "cni",
            cni_bin_dir=CNI_BIN_DIR,
            runc=runc,
        )
        self._lock = hostsetup.HostLock()
        self._sysctls: dict[str, str] = {}
        self._new_dirs: list[Path] = []
        self._nft_tables: set[str] | None = None
        self._started = False

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> RealNode:
        problem = missing_host_parts()
        if os.geteuid() != 0:
            problem = "a real node needs root (bridges, mounts, iptables)"
        if problem:
            raise RealNodeError(problem)
        absent = [name for name in NODE_BINARIES if not (self.bin_dir / name).is_file()]
        if absent:
            raise RealNodeError(
                f"no {', '.join(absent)} in {self.bin_dir}: run build-binaries.sh --real-node"
            )
        started = time.monotonic()
        owner = f"real node {self.name}"
        killed = self._lock.acquire(owner)
        self._started = True
        atexit.register(self.stop)
        try:
            if "folder" in killed:
                self._step("killed predecessor", lambda: self._clean_up_after(killed))
            # What the host was like before any node; a killed predecessor recorded it.
            self._new_dirs = hostsetup.absent(hostsetup.HOST_DIRS)
            self._new_dirs += [Path(d) for d in killed.get("new_dirs", "").split(":") if d]
            self._sysctls = hostsetup.read_sysctls()
            self._sysctls.update({k[7:]: v for k, v in killed.items() if k.startswith("sysctl:")})
            self._nft_tables = hostsetup.nft_tables()
            if self._nft_tables is not None and "nft_tables" in killed:
                self._nft_tables &= set(killed["nft_tables"].split(":"))
            record = {
                "folder": str(self.folder),
                "new_dirs": ":".join(sorted(map(str, set(self._new_dirs)))),
                "nft_tables": ":".join(sorted(self._nft_tables or ())),
                **{f"sysctl:{name}": value for name, value in self._sysctls.items()},
            }
            self._lock.record(owner, record)
            self._step("certificates", self._write_credentials)
            self._step("network", self._setup_network)
            self._step("containerd", lambda: self.containerd.start(self.start_timeout))
            self._step("pause image", lambda: self.import_image(pause_image(self.bin_dir)))
            proxy_port = self._start_kube_proxy()
            self._step("kubelet", self._start_kubelet)
            self._step("node Ready", self._wait_ready)
            self._step("kube-proxy", lambda: self._wait_kube_proxy(proxy_port))
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - started
        log.info("real node %s Ready in %.1fs", self.name, self.timings["total"])
        return self

    def _step(self, name: str, action: Callable[[], object]) -> None:
        began = time.monotonic()
        action()
        self.timings[name] = time.monotonic() - began

    def import_image(self, archive: Path) -> str:
        """Import an image archive (an OCI layout tar, or what `podman save` or `docker
        save` write) into the node's containerd; returns the image's digest. Pods run
        it with imagePullPolicy Never (or IfNotPresent): nothing is ever pulled."""
        return self.containerd.import_image(archive)

    def check_running(self) -> None:
        """Raise if containerd, the kubelet or kube-proxy has died."""
        for process in [self.containerd.process, *self.processes.values()]:
            if process is not None and not process.alive():
                raise RealNodeError(f"{process.describe_exit()}; its log ends:\n{process.tail()}")

    def stop(self) -> None:
        """Pods first (through the kubelet, so CNI releases their addresses and rules),
        then every process, mount, bridge, iptables rule, kernel setting and folder it
        made outside its own; safe to call twice, and after its processes were killed."""
        atexit.unregister(self.stop)
        if not self._started:
            return
        self._started = False
        try:
            kubelet = self.processes.get("kubelet")
            if kubelet is not None and kubelet.alive():
                if self._api_alive():
                    self._drain()
                kubelet.stop()
            _attempt(self.containerd.stop)
            if "kube-proxy" in self.processes:
                self.processes["kube-proxy"].stop()
            self._delete_node()
            self._clean_host(self.folder)
            _attempt(lambda: hostsetup.remove_new_empty_tables(self._nft_tables))
            if hostsetup.DEVICE_PLUGINS in self._new_dirs:
                (hostsetup.DEVICE_PLUGINS / "kubelet.sock").unlink(missing_ok=True)
            hostsetup.remove_empty(self._new_dirs)
            hostsetup.restore_sysctls(self._sysctls)
        finally:
            self._lock.release()

    def _clean_host(self, folder: Path) -> None:
        """What a node living in `folder` leaves on the host once its processes are gone."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            cleanup = [str(self.bin_dir / "kube-proxy"), "--cleanup"]
            subprocess.run(cleanup, capture_output=True, timeout=60, check=False)
        left = hostsetup.unmount_under(folder)
        if left:
            log.warning("real node %s: still mounted after teardown: %s", self.name, left)
        _attempt(lambda: hostsetup.delete_bridge(BRIDGE))
        _attempt(lambda: hostsetup.remove_cni_rules(CNI_NETWORK))
        _attempt(hostsetup.remove_kube_chains)
        hostsetup.remove_links_into(folder, Path("/var/log/containers"))
        hostsetup.remove_cni_results(folder)

    def _clean_up_after(self, killed: dict[str, str]) -> None:
        """A predecessor was killed (SIGKILL) before its teardown: its kubelet and
        containerd died with it, but its shims, containers, mounts, bridge and rules
        did not."""
        folder = Path(killed["folder"])
        log.warning("real node: cleaning up after a node killed in %s", folder)
        stale = Containerd(
            self.bin_dir,
            folder / "containerd",
            self.logs / "containerd-stale.log",
            cni_conf_dir=folder / "cni",
            cni_bin_dir=CNI_BIN_DIR,
            runc=self.containerd.runc,
        )
        stale.stop()
        self._clean_host(folder)

    # -- parts -------------------------------------------------------------------

    def _run(self, name: str, argv: list[str]) -> Process:
        env = {"PATH": f"{self.bin_dir}:{HOST_PATH}", "HOME": str(self.folder)}
        process = Process(name, argv, self.logs / f"{name}.log", env=env, cwd=self.folder)
        self.processes[name] = process
        return process

    def _write_credentials(self) -> None:
        pki = self.cluster.pki
        if pki is None:
            raise RealNodeError("the control plane is not started")
        folder = self.folder / "pki"
        user = f"system:node:{self.name}"  # NodeRestriction holds the kubelet to its node
        self.kubelet_client = certs.issue(pki.ca, folder, "kubelet-client", user, "system:nodes")
        self.kubelet_serving = certs.issue(
            pki.ca, folder, "kubelet-serving", user, server_names=[self.name], server_ips=[NODE_IP]
        )
        proxy = certs.issue(pki.ca, folder, "kube-proxy", "system:kube-proxy")
        for stem, pair in (("kubelet", self.kubelet_client), ("kube-proxy", proxy)):
            kubeconfig.write(
                self.folder / f"{stem}.kubeconfig",
                server=self.cluster.server,
                ca=pki.ca.cert,
                user=kubeconfig.client_cert_user(pair.cert, pair.key),
                name=stem,
            )
        # What the API server may do on kubelets, as kubeadm grants it.
        group = "rbac.authorization.k8s.io"
        binding: Any = {  # the client takes plain dicts too
            "metadata": {"name": KUBELET_API_BINDING},
            "roleRef": {
                "apiGroup": group,
                "kind": "ClusterRole",
                "name": "system:kubelet-api-admin",
            },
            "subjects": [{"apiGroup": group, "kind": "User", "name": certs.KUBELET_CLIENT}],
        }
        with self.cluster.api_client() as api:
            try:
                kubernetes.client.RbacAuthorizationV1Api(api).create_cluster_role_binding(binding)
            except kubernetes.client.ApiException as error:
                if error.status != 409:
                    raise

    def _setup_network(self) -> None:
        hostsetup.create_bridge(BRIDGE, f"{NODE_IP}/24")
        conf_dir = self.folder / "cni"
        conf_dir.mkdir(parents=True, exist_ok=True)
        conflist = nodeconfig.cni_conflist(self.folder / "cni-ipam")
        (conf_dir / "10-realnode.conflist").write_text(json.dumps(conflist, indent=2))

    def _start_kubelet(self) -> None:
        assert self.cluster.pki is not None
        self.kubelet_port = free_port()
        config = nodeconfig.kubelet_config(
            folder=self.folder,
            port=self.kubelet_port,
            healthz_port=free_port(),
            serving=(self.kubelet_serving.cert, self.kubelet_serving.key),
            client_ca=self.cluster.pki.ca.cert,
            runtime_endpoint=self.containerd.endpoint,
        )
        config_file = self.folder / "kubelet.yaml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self._run(
            "kubelet",
            [
                str(self.bin_dir / "kubelet"),
                f"--config={config_file}",
                f"--kubeconfig={self.folder / 'kubelet.kubeconfig'}",
                f"--root-dir={self.folder / 'kubelet'}",
                f"--cert-dir={self.folder / 'pki'}",
                f"--hostname-override={self.name}",
                f"--node-ip={NODE_IP}",
                f"--node-labels={self.label}",
            ],
        )

    def _start_kube_proxy(self) -> int:
        port = free_port()
        config = nodeconfig.kube_proxy_config(
            name=self.name,
            kubeconfig=self.folder / "kube-proxy.kubeconfig",
            healthz_port=port,
            metrics_port=free_port(),
        )
        config_file = self.folder / "kube-proxy.yaml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self._run("kube-proxy", [str(self.bin_dir / "kube-proxy"), f"--config={config_file}"])
        return port

    def _wait_kube_proxy(self, port: int) -> None:
        def healthy() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                return bool(answer.status == 200)

        watch = [self.processes["kube-proxy"]]
        wait_until(healthy, timeout=self.start_timeout, what="kube-proxy /healthz", watch=watch)

    def _wait_ready(self) -> None:
        with self.cluster.api_client() as api:
            core = kubernetes.client.CoreV1Api(api)

            def ready() -> bool:
                node = core.read_node(self.name)
                conditions = (node.status.conditions if node.status else None) or []
                taints = (node.spec.taints if node.spec else None) or []
                return any(
                    c.type == "Ready" and c.status == "True" for c in conditions
                ) and not any(t.key == "node.kubernetes.io/not-ready" for t in taints)

            watch = [self.processes["kubelet"], *filter(None, [self.containerd.process])]
            what = f"node {self.name} Ready and untainted"
            wait_until(ready, timeout=self.start_timeout, what=what, watch=watch, interval=0.5)

    def _drain(self, timeout: float = 60.0) -> None:
        """Cordon the node, delete its pods and wait until the kubelet has torn them
        down (containers stopped, CNI addresses and rules released)."""
        selector = f"spec.nodeName={self.name}"
        try:
            with self.cluster.api_client() as api:
                core = kubernetes.client.CoreV1Api(api)
                core.patch_node(self.name, {"spec": {"unschedulable": True}})
                for pod in core.list_pod_for_all_namespaces(field_selector=selector).items:
                    meta = pod.metadata
                    if meta is None or meta.name is None or meta.namespace is None:
                        continue
                    with contextlib.suppress(kubernetes.client.ApiException):
                        core.delete_namespaced_pod(
                            meta.name, meta.namespace, grace_period_seconds=1
                        )
                wait_until(
                    lambda: not core.list_pod_for_all_namespaces(field_selector=selector).items,
                    timeout=timeout,
                    what=f"pods of {self.name} gone",
                    interval=0.5,
                )
        except Exception as error:  # the API server may be gone already
            log.warning(
                "real node %s: pods not drained (%s); removing them by force", self.name, error
            )

    def _api_alive(self) -> bool:
        apiserver = self.cluster.processes.get("kube-apiserver")
        return apiserver is not None and apiserver.alive()

    def _delete_node(self) -> None:
        if not self._api_alive():
            return
        with contextlib.suppress(Exception), self.cluster.api_client() as api:
            kubernetes.client.CoreV1Api(api).delete_node(self.name, _request_timeout=10)
