"""The operator as a real `kopf run` process, authenticated as its ServiceAccount."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes

from tests.controlplane import kubeconfig
from tests.controlplane.processes import Process, free_port, wait_until

NAMESPACE = "modelrelease-system"
SERVICE_ACCOUNT = "modelrelease-operator"
MODULE = "modelrelease_operator.main"
#: Long enough for the longest session; the operator never needs to refresh it.
TOKEN_SECONDS = 6 * 3600


def service_account_kubeconfig(
    api: kubernetes.client.ApiClient,
    path: Path,
    *,
    namespace: str = NAMESPACE,
    service_account: str = SERVICE_ACCOUNT,
) -> Path:
    """A kubeconfig for the cluster `api` talks to, holding a TokenRequest token of the
    operator's ServiceAccount, so that the operator gets exactly the RBAC that
    manifests/ grants it (another install's: `namespace`, `service_account`)."""
    request = kubernetes.client.AuthenticationV1TokenRequest(
        spec=kubernetes.client.V1TokenRequestSpec(audiences=[], expiration_seconds=TOKEN_SECONDS)
    )
    answer = kubernetes.client.CoreV1Api(api).create_namespaced_service_account_token(
        service_account, namespace, request
    )
    if answer.status is None or not answer.status.token:
        raise RuntimeError(f"TokenRequest for {namespace}/{service_account} returned no token")
    # The kubeconfig loader has written the cluster's CA to a file already.
    return kubeconfig.write(
        path,
        server=api.configuration.host,
        ca=Path(api.configuration.ssl_ca_cert),
        user=kubeconfig.token_user(answer.status.token),
        name=f"{namespace}:{service_account}",
    )


def wait_owner_kinds_resolvable(
    kubeconfig_path: Path, crds: list[dict[str, Any]], timeout: float = 120.0
) -> float:
    """Wait until the operator may create a Job owned (blockOwnerDeletion) by each
    custom kind, checked with a dry-run create under its own credentials.

    The API server's OwnerReferencesPermissionEnforcement admission resolves owner
    kinds through a discovery cache that learns new CRDs only some seconds after they
    are Established; until then such a create is refused (403). Returns the seconds.
    """
    started = time.monotonic()
    with kubernetes.config.new_client_from_config(config_file=str(kubeconfig_path)) as api:
        batch = kubernetes.client.BatchV1Api(api)
        for crd in crds:
            version = next(v["name"] for v in crd["spec"]["versions"] if v.get("served"))
            owner = {
                "apiVersion": f"{crd['spec']['group']}/{version}",
                "kind": crd["spec"]["names"]["kind"],
                "name": "probe",
                "uid": "00000000-0000-0000-0000-000000000000",
                "controller": True,
                "blockOwnerDeletion": True,
            }
            job = {
                "metadata": {"generateName": "owner-probe-", "ownerReferences": [owner]},
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "probe", "image": "probe.invalid/probe"}],
                        }
                    }
                },
            }
            while True:
                try:
                    batch.create_namespaced_job(NAMESPACE, job, dry_run="All")
                    break
                except kubernetes.client.ApiException as error:
                    if "RESTMapping" not in str(error.body) or (
                        time.monotonic() - started > timeout
                    ):
                        raise
                    time.sleep(0.5)
    return time.monotonic() - started


class OperatorProcess:
    """`python -m kopf run --standalone --all-namespaces -m modelrelease_operator.main`.

    start() returns once kopf's liveness endpoint answers, i.e. its startup handlers
    have run. The log accumulates across restarts in one file.
    """

    def __init__(
        self,
        kubeconfig_path: Path,
        workdir: Path,
        *,
        start_timeout: float = 120.0,
        name: str = "operator",
        env: dict[str, str] | None = None,
        scope: tuple[str, ...] = ("--all-namespaces",),
    ) -> None:
        self.kubeconfig = kubeconfig_path
        self.workdir = workdir
        self.name = name
        #: More environment for the process (e.g. leader election's settings).
        self.extra_env = dict(env or {})
        #: Kopf's namespace options: every namespace, or `--namespace=NAME` each.
        self.scope = scope
        self.log = workdir / f"{name}.log"
        self.start_timeout = start_timeout
        self.process: Process | None = None
        self.starts = 0
        #: Seconds the last start() took until the liveness endpoint answered.
        self.start_seconds = 0.0
        #: Where the running operator serves its own Prometheus metrics.
        self.metrics_port = 0
        #: Where it serves /healthz (kopf's liveness endpoint).
        self.liveness_port = 0

    def start(self, *, wait: bool = True) -> None:
        """Start the process; with `wait` (the default), return once it is live."""
        port = self.liveness_port = free_port()
        self.metrics_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env.update(
            {
                "KUBECONFIG": str(self.kubeconfig),
                "PYTHONUNBUFFERED": "1",
                "MODELRELEASE_METRICS_PORT": str(self.metrics_port),
                # The operator's periodic resync retries failed reconciles; short here
                # so that the retry test does not wait the production interval.
                "MODELRELEASE_RESYNC_SECONDS": "5",
            }
        )
        env.update(self.extra_env)
        argv = [
            sys.executable,
            "-m",
            "kopf",
            "run",
            "--standalone",
            *self.scope,
            f"--liveness=http://127.0.0.1:{port}/healthz",
            "-m",
            MODULE,
        ]
        self.starts += 1
        with self.log.open("a") as out:
            out.write(f"===== start #{self.starts}: {' '.join(argv[1:])}\n")
        self.process = Process(self.name, argv, self.log, env=env, cwd=self.workdir)
        if wait:
            self.wait_live()

    def wait_live(self) -> None:
        """Wait until the started process's liveness endpoint answers."""
        assert self.process is not None, "not started"

        def live() -> bool:
            url = f"http://127.0.0.1:{self.liveness_port}/healthz"
            with urllib.request.urlopen(url, timeout=5) as response:
                return bool(response.status == 200)

        self.start_seconds = wait_until(
            live,
            timeout=self.start_timeout,
            what="the operator's liveness endpoint",
            watch=[self.process],
            interval=0.25,
        )

    def stop(self) -> None:
        """Graceful: SIGTERM, as a Deployment rollout would."""
        if self.process is not None:
            self.process.stop(grace=20.0)

    def kill(self) -> None:
        """A crash: SIGKILL, no cleanup."""
        if self.process is not None:
            self.process.kill()

    def sigkill(self) -> None:
        """kill -9 and nothing else (kill() sends SIGTERM first, a moment before SIGKILL):
        not even a signal handler runs. Returns once the process is gone."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.popen.wait(10)
        self.process.stop(grace=0)  # reaps what else its group left and forgets it

    def restart(self, *, crash: bool = False) -> None:
        self.kill() if crash else self.stop()
        self.start()

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def wait_for_log(self, needle: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{needle!r} not in the operator log:\n{self.tail()}")
            time.sleep(0.25)
