"""containerd for the real node (realnode.py): its configuration, its images, and a
teardown that leaves no container, shim, runc state or cgroup behind.

Everything lives in one folder: root, state, runc's state, the sockets, the CNI
network namespaces. Images are imported with ctr into the `k8s.io` namespace (the one
the CRI plugin serves); nothing is ever pulled, so the sandbox image is pinned and
imported before the kubelet starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from .nodeimages import SANDBOX_IMAGE
from .processes import Process, wait_until

log = logging.getLogger(__name__)

NAMESPACE = "k8s.io"
SHIM = "containerd-shim-runc-v2"
SHIM_SOCKETS = Path("/run/containerd/s")
NO_REGISTRY = "http://127.0.0.1:1"
#: Plugins that would touch places outside the folder or serve no purpose here: NRI
#: listens on /var/run/nri, the others are snapshotters and exporters nothing uses.
DISABLED_PLUGINS = (
    "io.containerd.nri.v1.nri",
    "io.containerd.internal.v1.tracing",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.blockfile",
    "io.containerd.snapshotter.v1.erofs",
)


class ContainerdClient:
    """`ctr` against a running containerd: what a node's owner, or a program that only
    knows its socket (the demo), needs to import images."""

    def __init__(self, bin_dir: Path, socket: Path) -> None:
        self.bin_dir = bin_dir
        self.socket = socket

    def ctr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin_dir / "ctr"), "--address", str(self.socket), "--namespace", NAMESPACE]
        return subprocess.run(
            [*argv, *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    def import_image(self, archive: Path) -> str:
        """`ctr images import ARCHIVE` (an OCI layout or `docker save`/`podman save`
        tar holding one image); returns the image's digest ("sha256:...")."""
        done = self.ctr("images", "import", str(archive), timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"ctr images import {archive} failed:\n{done.stderr[-2000:]}")
        # ctr prints each image it saved, then its manifest's (or index's) media type
        # and digest.
        pattern = r"^application/\S+\s+(sha256:[0-9a-f]{64})\s*$"
        digests: set[str] = set(re.findall(pattern, done.stdout, flags=re.MULTILINE))
        if len(digests) != 1 or not digests <= set(self.images().values()):
            raise RuntimeError(
                f"expected one image in {archive}, ctr imported {sorted(digests) or 'none'}:\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        return digests.pop()

    def images(self) -> dict[str, str]:
        """Every image in the namespace: reference -> digest."""
        done = self.ctr("images", "list")
        if done.returncode != 0:
            raise RuntimeError(f"ctr images list failed:\n{done.stderr[-2000:]}")
        rows = (line.split() for line in done.stdout.splitlines()[1:])
        return {row[0]: row[2] for row in rows if len(row) > 2}

    # -- teardown ----------------------------------------------------------------


class Containerd(ContainerdClient):
    def __init__(
        self,
        bin_dir: Path,
        folder: Path,
        log_file: Path,
        *,
        cni_conf_dir: Path,
        cni_bin_dir: Path,
        runc: Path,
    ) -> None:
        super().__init__(bin_dir, folder / "containerd.sock")
        self.folder = folder
        self.log_file = log_file
        self.cni_conf_dir = cni_conf_dir
        self.cni_bin_dir = cni_bin_dir
        self.runc = runc
        self.runc_root = folder / "runc"
        self.process: Process | None = None

    @property
    def endpoint(self) -> str:
        """What the kubelet's containerRuntimeEndpoint names."""
        return f"unix://{self.socket}"

    def config(self) -> str:
        cri = "plugins.'io.containerd.cri.v1.runtime'"
        disabled = ", ".join(f'"{name}"' for name in DISABLED_PLUGINS)
        return f"""version = 3
root = "{self.folder / "root"}"
state = "{self.folder / "state"}"
temp = "{self.folder / "tmp"}"
disabled_plugins = [{disabled}]

[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"

[{cri}]
  # root lacks CAP_SYS_RESOURCE here: without this, every sandbox fails with
  # "runc create failed: ... can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  # Network namespaces under the state folder rather than /var/run/netns.
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  [{cri}.cni]
    bin_dirs = ["{self.cni_bin_dir}"]
    conf_dir = "{self.cni_conf_dir}"
    max_conf_num = 1
  [{cri}.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [{cri}.containerd.runtimes.runc.options]
      BinaryName = "{self.runc}"
      Root = "{self.runc_root}"
      SystemdCgroup = false

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "{self.folder / "registries"}"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{SANDBOX_IMAGE}"

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""

    def start(self, timeout: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "config.toml"
        config.write_text(self.config())
        # Every registry is loopback port 1: a pod whose image was not imported fails
        # at once (ErrImagePull) instead of reaching out to a registry or a resolver.
        default_host = self.folder / "registries" / "_default" / "hosts.toml"
        default_host.parent.mkdir(parents=True, exist_ok=True)
        default_host.write_text(f'server = "{NO_REGISTRY}"\n')
        self.process = Process(
            "containerd",
            [str(self.bin_dir / "containerd"), "--config", str(config)],
            self.log_file,
            # The shim and runc are found on the PATH: ours first.
            env={"PATH": f"{self.bin_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin')}"},
            cwd=self.folder,
        )
        wait_until(
            lambda: self.ctr("version", timeout=10).returncode == 0,
            timeout=timeout,
            what="containerd answering ctr version",
            watch=[self.process],
            interval=0.3,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def stop(self) -> None:
        """Remove every task through containerd (so the shims exit and clean up after
        themselves), stop containerd, then kill what is left by hand."""
        if self.alive():
            self._remove_tasks()
        if self.process is not None:
            self.process.stop()
        self._force_remove_containers()
        self._kill_shims()

    def _remove_tasks(self) -> None:
        listed = self.ctr("tasks", "list", timeout=30)
        ids = [line.split()[0] for line in listed.stdout.splitlines()[1:] if line.split()]
        # Sandboxes last: their shim serves the pod's other containers too.
        for task in ids:
            self.ctr("tasks", "kill", "--signal", "SIGKILL", "--all", task, timeout=30)
        for task in ids:
            self.ctr("tasks", "delete", "--force", task, timeout=30)
        for container in self.ctr("containers", "list", "--quiet", timeout=30).stdout.split():
            self.ctr("containers", "delete", container, timeout=30)

    def _runc(self, *args: str) -> subprocess.CompletedProcess[str]:
        root = self.runc_root / NAMESPACE
        return subprocess.run(
            [str(self.runc), "--root", str(root), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def _force_remove_containers(self) -> None:
        """`runc delete --force` kills what still runs and removes its cgroups."""
        if not (self.runc_root / NAMESPACE).is_dir():
            return
        for container in self._runc("list", "--quiet").stdout.split():
            done = self._runc("delete", "--force", container)
            if done.returncode != 0:
                log.warning("runc delete %s: %s", container, done.stderr.strip())

    def _kill_shims(self) -> None:
        """SIGKILL the shims and everything under them (a container's init takes the
        rest of its PID namespace with it)."""
        shims = self.shims()
        for pid in [*_descendants(list(shims)), *shims]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self.shims() and time.monotonic() < deadline:
            time.sleep(0.1)
        # A shim listens on /run/containerd/s/<sha256 of "ADDRESS/NAMESPACE/ID"> (a
        # fixed place, whatever the state folder) and only removes it on a clean exit.
        for shim_id in shims.values():
            key = hashlib.sha256(f"{self.socket}/{NAMESPACE}/{shim_id}".encode()).hexdigest()
            Path(SHIM_SOCKETS, key).unlink(missing_ok=True)

    def shims(self) -> dict[int, str]:
        """Shims started by this containerd (their command line names its socket):
        pid -> the id they were started for."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            if argv[0].endswith(SHIM) and str(self.socket) in argv and "-id" in argv:
                found[int(entry.name)] = argv[argv.index("-id") + 1]
        return found


def _descendants(roots: list[int]) -> list[int]:
    """Every process below `roots`, deepest last."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                # "pid (comm) state ppid ...": comm may hold spaces, so split after ")".
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    queue = list(roots)
    while queue:
        below = children.get(queue.pop(0), [])
        found += below
        queue += below
    return found
