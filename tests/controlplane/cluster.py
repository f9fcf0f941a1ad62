"""Start and stop a real Kubernetes control plane on loopback, for tests.

etcd, kube-apiserver (RBAC + Node authorization, Pod Security admission, service-account
tokens), kube-controller-manager, kube-scheduler and kwok, which plays the kubelets of a
few simulated nodes (nodes.py) and moves their pods through the stages in kwok/*.yaml.
Every port is picked at run time and every file lives in one work folder, so several
control planes can run side by side. Each component logs to <workdir>/logs/<name>.log.

    with ControlPlane(binaries.ensure()) as cluster:
        api = cluster.api_client()       # admin (system:masters)
        print(cluster.version, cluster.admin_kubeconfig)

`real_node=True` also starts a real worker node (realnode.py: containerd, kubelet,
kube-proxy) once the rest is up, so real pods run beside kwok's; `cluster.real_node`.

`python -m tests.controlplane` starts one and waits, for trying things by hand.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import ssl
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import kubernetes

from . import certs, kubeconfig
from .nodeconfig import NODE_IP, SERVICE_CIDR
from .nodes import DEFAULT_NODES, KWOK_ANNOTATION, SimulatedNode
from .processes import Process, free_port, wait_until

if TYPE_CHECKING:
    from .realnode import RealNode

log = logging.getLogger(__name__)

STAGES_DIR = Path(__file__).resolve().parent / "kwok"
#: Put on new nodes at admission; the node-lifecycle controller lifts it when Ready.
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
#: Admission plugins on top of the API server's defaults (which already include
#: NamespaceLifecycle, LimitRanger, ServiceAccount, PodSecurity, Priority,
#: DefaultTolerationSeconds, ResourceQuota and the admission webhooks/policies).
#: OwnerReferencesPermissionEnforcement makes blockOwnerDeletion need RBAC on the
#: owner's finalizers, as on hardened clusters.
EXTRA_ADMISSION = ("NodeRestriction", "OwnerReferencesPermissionEnforcement")
#: Controllers the tests rely on; nothing for clouds, volume attachment or certificates.
#: The node-lifecycle controller lifts the not-ready taint that admission puts on a new
#: node once kwok reports it Ready (and renews its Lease).
CONTROLLERS = (
    "node-lifecycle-controller",
    "deployment-controller",
    "replicaset-controller",
    "job-controller",
    "ttl-after-finished-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "endpointslice-controller",
    "disruption-controller",
    "pod-garbage-collector-controller",
    "persistentvolume-binder-controller",
    "persistentvolumeclaim-protection-controller",
    "resourcequota-controller",
    "clusterrole-aggregation-controller",
)


class ControlPlaneError(RuntimeError):
    """A component did not start; the message carries the relevant log tails."""


class ControlPlane:
    def __init__(
        self,
        bin_dir: Path,
        workdir: Path | None = None,
        *,
        nodes: Sequence[SimulatedNode] = DEFAULT_NODES,
        real_node: bool = False,
        start_timeout: float = 240.0,
    ) -> None:
        self.bin_dir = bin_dir
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="controlplane-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.nodes = tuple(nodes)
        self.start_timeout = start_timeout
        self.processes: dict[str, Process] = {}
        #: Seconds each step of start() took, in order.
        self.timings: dict[str, float] = {}
        self.version = ""
        self.server = ""
        self.admin_kubeconfig = self.workdir / "admin.kubeconfig"
        self.pki: certs.Pki | None = None
        self._want_real_node = real_node
        #: The real worker node, once started (real_node=True or start_real_node()).
        self.real_node: RealNode | None = None

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        started = time.monotonic()
        # processes.py kills the components on exit; this also removes the work folder.
        atexit.register(self.stop)
        try:
            self._step("pki", self._write_pki)
            self._step("etcd", self._start_etcd)
            self._step("kube-apiserver", self._start_apiserver)
            # The rest only need the API server; start them together, then wait.
            cm, sched, kwok = (
                self._start_controller_manager(),
                self._start_scheduler(),
                self._start_kwok(),
            )
            self._step("kube-controller-manager", lambda: self._wait_healthz(*cm))
            self._step("kube-scheduler", lambda: self._wait_healthz(*sched))
            self._step("kwok", lambda: self._wait_healthz(*kwok, scheme="http"))
            self._step("nodes", self._register_nodes)
            self._step("default service account", self._wait_default_service_account)
            if self._want_real_node:
                self._step("real node", self.start_real_node)
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - started
        log.info(
            "control plane %s up in %.1fs at %s (%s)",
            self.version,
            self.timings["total"],
            self.server,
            self.workdir,
        )
        return self

    def stop(self) -> None:
        """Stop every component, dependents first; safe to call twice."""
        atexit.unregister(self.stop)
        if self.real_node is not None:
            # Its pods go through the API server and the kubelet: before the rest.
            self.real_node.stop()
        for name in reversed(list(self.processes)):
            self.processes[name].stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _step(self, name: str, action: object) -> None:
        began = time.monotonic()
        assert callable(action)
        action()
        self.timings[name] = time.monotonic() - began

    def start_real_node(self, name: str = "real-node-1") -> RealNode:
        """Join a real worker node to this running control plane; stop() stops it."""
        from .realnode import RealNode

        if self.real_node is not None:
            raise ControlPlaneError(f"{self.real_node.name} already runs (one per host)")
        node = RealNode(self, name, start_timeout=self.start_timeout)
        node.start()
        self.real_node = node
        return node

    # -- clients -----------------------------------------------------------------

    def api_client(self) -> kubernetes.client.ApiClient:
        """A new admin client (system:masters)."""
        new_client = kubernetes.config.new_client_from_config
        api: kubernetes.client.ApiClient = new_client(config_file=str(self.admin_kubeconfig))  # type: ignore[no-untyped-call]
        return api

    def check_running(self) -> None:
        """Raise if a component has died since start()."""
        for process in self.processes.values():
            if not process.alive():
                raise ControlPlaneError(
                    f"{process.describe_exit()}; its log ends:\n{process.tail()}"
                )
        if self.real_node is not None:
            self.real_node.check_running()

    def log_tails(self, lines: int = 20) -> str:
        return "\n".join(
            f"--- {name} ({p.log}):\n{p.tail(lines)}" for name, p in self.processes.items()
        )

    # -- components --------------------------------------------------------------

    def _run(self, name: str, argv: list[str]) -> Process:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            # kwok reads ~/.kwok/kwok.yaml when it exists; keep every component away
            # from the real home.
            "HOME": str(self.workdir),
        }
        binary = str(self.bin_dir / argv[0])
        process = Process(
            name,
            [binary, *argv[1:]],
            self.workdir / "logs" / f"{name}.log",
            env=env,
            cwd=self.workdir,
        )
        self.processes[name] = process
        return process

    def _write_pki(self) -> None:
        self.pki = certs.generate(self.workdir / "pki")

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        process = self._run(
            "etcd",
            [
                "etcd",
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                # Throwaway data: durability only costs time on a slow disk.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=5) as response:
                return bool(json.load(response).get("health") == "true")

        wait_until(healthy, timeout=self.start_timeout, what="etcd", watch=[process])

    def _start_apiserver(self) -> None:
        pki = self._pki()
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        process = self._run(
            "kube-apiserver",
            [
                "kube-apiserver",
                f"--etcd-servers={self.etcd_url}",
                *self._reachable_from(),
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'apiserver'}",
                f"--tls-cert-file={pki.apiserver.cert}",
                f"--tls-private-key-file={pki.apiserver.key}",
                f"--client-ca-file={pki.ca.cert}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={pki.service_account_pub}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--requestheader-client-ca-file={pki.front_proxy_ca.cert}",
                f"--requestheader-allowed-names={certs.FRONT_PROXY_CLIENT}",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={pki.front_proxy_client.cert}",
                f"--proxy-client-key-file={pki.front_proxy_client.key}",
                "--authorization-mode=RBAC,Node",
                # Towards kubelets (logs, exec, pod proxy): a real node's kubelet has a
                # serving certificate of the cluster CA for its InternalIP, and node
                # names do not resolve. kwok's nodes serve nothing of this.
                f"--kubelet-client-certificate={pki.kubelet_client.cert}",
                f"--kubelet-client-key={pki.kubelet_client.key}",
                f"--kubelet-certificate-authority={pki.ca.cert}",
                "--kubelet-preferred-address-types=InternalIP,Hostname",
                f"--enable-admission-plugins={','.join(EXTRA_ADMISSION)}",
                "--profiling=false",
                "--event-ttl=30m",
            ],
        )
        self._write_kubeconfigs()
        context = ssl.create_default_context(cafile=str(pki.ca.cert))
        context.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))

        def ready() -> bool:
            request = urllib.request.Request(f"{self.server}/readyz")
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return bool(response.status == 200)

        wait_until(
            ready,
            timeout=self.start_timeout,
            what="kube-apiserver /readyz",
            watch=[process],
            interval=0.5,
        )
        with self.api_client() as api:
            self.version = kubernetes.client.VersionApi(api).get_code().git_version

    def _reachable_from(self) -> list[str]:
        """Where the API server listens and what its `kubernetes` Service points at.

        Only on loopback, and no Service endpoints (loopback may not be one), unless a
        real node joins: its pods (the operator's among them) reach the API server as
        in any cluster, through the `kubernetes` Service, which kube-proxy sends to the
        node's address on this host.
        """
        if not self._want_real_node:
            return [
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
            ]
        return ["--bind-address=0.0.0.0", f"--advertise-address={NODE_IP}"]

    def _write_kubeconfigs(self) -> None:
        pki = self._pki()
        kubeconfig.write(
            self.admin_kubeconfig,
            server=self.server,
            ca=pki.ca.cert,
            user=kubeconfig.client_cert_user(pki.admin.cert, pki.admin.key),
            name="admin",
        )
        for stem, pair in (
            ("controller-manager", pki.controller_manager),
            ("scheduler", pki.scheduler),
        ):
            kubeconfig.write(
                self.workdir / f"{stem}.kubeconfig",
                server=self.server,
                ca=pki.ca.cert,
                user=kubeconfig.client_cert_user(pair.cert, pair.key),
                name=stem,
            )

    def _serving_flags(self, stem: str, port: int) -> list[str]:
        """Secure serving of /healthz plus delegated authn/z, as in a real cluster."""
        config = self.workdir / f"{stem}.kubeconfig"
        return [
            f"--kubeconfig={config}",
            f"--authentication-kubeconfig={config}",
            f"--authorization-kubeconfig={config}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={self.workdir / stem}",
            # One instance: skip the lease dance that would delay the first sync.
            "--leader-elect=false",
        ]

    def _start_controller_manager(self) -> tuple[Process, int]:
        pki = self._pki()
        port = free_port()
        process = self._run(
            "kube-controller-manager",
            [
                "kube-controller-manager",
                *self._serving_flags("controller-manager", port),
                f"--controllers={','.join(CONTROLLERS)}",
                # Each controller acts as its own ServiceAccount with its bootstrap role.
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.ca.cert}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # Free the namespaces of finished tests quickly.
                "--concurrent-namespace-syncs=4",
            ],
        )
        return process, port

    def _start_scheduler(self) -> tuple[Process, int]:
        port = free_port()
        process = self._run(
            "kube-scheduler",
            [
                "kube-scheduler",
                *self._serving_flags("scheduler", port),
            ],
        )
        return process, port

    def _start_kwok(self) -> tuple[Process, int]:
        port = free_port()
        selector = ",".join(f"{k}={v}" for k, v in KWOK_ANNOTATION.items())
        process = self._run(
            "kwok",
            [
                "kwok",
                f"--kubeconfig={self.admin_kubeconfig}",
                *(f"--config={path}" for path in sorted(STAGES_DIR.glob("*.yaml"))),
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={selector}",
                # Pod and node addresses outside the service range.
                "--cidr=10.244.0.1/16",
                "--node-ip=10.240.0.1",
                f"--server-address=127.0.0.1:{port}",
                "--node-lease-duration-seconds=40",
            ],
        )
        return process, port

    def _wait_healthz(self, process: Process, port: int, scheme: str = "https") -> None:
        context = ssl.create_default_context()
        # The component's serving certificate is self-signed; only liveness matters here.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE

        def healthy() -> bool:
            url = f"{scheme}://127.0.0.1:{port}/healthz"
            tls = context if scheme == "https" else None
            with urllib.request.urlopen(url, timeout=5, context=tls) as response:
                return bool(response.status == 200)

        wait_until(
            healthy,
            timeout=self.start_timeout,
            what=f"{process.name} /healthz",
            watch=[process],
            interval=0.5,
        )

    # -- cluster contents ----------------------------------------------------------

    def _register_nodes(self) -> None:
        with self.api_client() as api:
            core = kubernetes.client.CoreV1Api(api)
            for node in self.nodes:
                manifest: Any = node.manifest()  # the client takes plain dicts too
                core.create_node(manifest)

            def all_schedulable() -> bool:
                usable = 0
                for node in core.list_node().items:
                    conditions = (node.status.conditions if node.status else None) or []
                    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
                    taints = (node.spec.taints if node.spec else None) or []
                    tainted = any(t.key == NOT_READY_TAINT for t in taints)
                    usable += ready and not tainted
                return usable == len(self.nodes)

            wait_until(
                all_schedulable,
                timeout=self.start_timeout,
                what="simulated nodes Ready and untainted",
                watch=[self.processes["kwok"], self.processes["kube-controller-manager"]],
                interval=0.5,
            )

    def _wait_default_service_account(self) -> None:
        """Pods can only be created once their namespace has its ServiceAccount, which
        the controller manager makes: this proves the controllers run."""
        with self.api_client() as api:
            core = kubernetes.client.CoreV1Api(api)
            wait_until(
                lambda: bool(core.read_namespaced_service_account("default", "default")),
                timeout=self.start_timeout,
                what="the default ServiceAccount (kube-controller-manager)",
                watch=[self.processes["kube-controller-manager"]],
                interval=0.5,
            )

    def _pki(self) -> certs.Pki:
        if self.pki is None:
            raise ControlPlaneError("start() has not written the PKI yet")
        return self.pki
