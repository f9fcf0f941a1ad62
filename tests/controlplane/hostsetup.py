"""What the real node changes on the host and how it is put back: the CNI bridge, the
mounts under the node's folder, iptables rules and chains, the kernel settings the
kubelet writes, the folders made outside the node's own, and the one-node-per-host lock.

A real node is a host-wide thing (kube-proxy owns the KUBE-* iptables chains), so only
one runs per host at a time; the lock says which process holds it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import IO

LOCK_FILE = Path("/run/lock/modelrelease-realnode.lock")
MNT_DETACH = 2
#: Set by the kubelet at start (protectKernelDefaults false); restored at teardown.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
#: The device manager's socket: the one path the kubelet keeps outside its --root-dir.
DEVICE_PLUGINS = Path("/var/lib/kubelet/device-plugins")
#: Made by the kubelet, containerd's shims and the CNI plugins outside the node's folder;
#: those that did not exist before are removed again when empty.
HOST_DIRS = (
    DEVICE_PLUGINS,
    DEVICE_PLUGINS.parent,
    Path("/var/log/containers"),
    Path("/var/lib/cni/results"),
    Path("/var/lib/cni"),
    Path("/run/containerd/s"),
    Path("/run/containerd"),
    # runc's cgroup parent for pods without one (containerd's namespace), v1 and v2.
    Path("/sys/fs/cgroup/k8s.io"),
    *(Path(controller, "k8s.io") for controller in Path("/sys/fs/cgroup").glob("*")),
)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


class HostLock:
    """An exclusive flock on LOCK_FILE, held while a real node runs. The file also
    records, as key=value lines, what a successor needs to clean up after a node that
    was killed before its teardown (its folder, the kernel settings it found)."""

    def __init__(self) -> None:
        self._file: IO[str] | None = None

    def acquire(self, owner: str) -> dict[str, str]:
        """Take the lock; returns the record a killed predecessor left ({} if none)."""
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        handle = LOCK_FILE.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.readline().strip() or "another process"
            handle.close()
            raise RuntimeError(
                f"a real node already runs on this host ({holder}); one at a time: "
                "kube-proxy's iptables chains and the CNI bridge are host-wide"
            ) from None
        handle.seek(0)
        previous = handle.read().splitlines()
        self._file = handle
        self.record(owner, {})
        return dict(line.split("=", 1) for line in previous[1:] if "=" in line)

    def record(self, owner: str, values: dict[str, str]) -> None:
        assert self._file is not None
        self._file.seek(0)
        self._file.truncate()
        lines = [f"pid {os.getpid()}: {owner}", *(f"{k}={v}" for k, v in values.items())]
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            self._file.truncate(0)
            self._file.close()  # closing drops the flock
            self._file = None


def create_bridge(name: str, address: str) -> None:
    """The bridge the CNI plugin attaches pods to, made up front so the node's address
    (the pods' gateway) exists before the kubelet starts."""
    delete_bridge(name)
    run("ip", "link", "add", name, "type", "bridge")
    run("ip", "addr", "add", address, "dev", name)
    run("ip", "link", "set", name, "up")


def delete_bridge(name: str) -> None:
    if Path(f"/sys/class/net/{name}").exists():
        run("ip", "link", "delete", name, check=False)


def mounts_under(folder: Path) -> list[str]:
    """Mount points at or below `folder`, deepest first."""
    prefix = str(folder.resolve())
    points = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            # Field 5 is the mount point, with spaces and such escaped as \040.
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def unmount_under(folder: Path) -> list[str]:
    """Detach every mount at or below `folder` (overlay root filesystems, shm, network
    namespaces, projected volumes, the kubelet's own bind mount); returns what is left."""
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(5):
        points = mounts_under(folder)
        if not points:
            return []
        for point in points:
            libc.umount2(point.encode(), MNT_DETACH)
    return mounts_under(folder)


#: iptables-nft families: the command prefix and nft's name of the family.
FAMILIES = (("iptables", "ip"), ("ip6tables", "ip6"))


def _iptables_delete(
    table: str, rules: list[str], chains: set[str], command: str = "iptables"
) -> int:
    """Delete `rules` (as iptables-save prints them) and then flush and delete `chains`
    in one iptables-restore transaction; returns how many rules went."""
    if not rules and not chains:
        return 0
    script = [f"*{table}", *(f"-D {rule[3:]}" for rule in rules)]
    script += [f"-F {chain}" for chain in sorted(chains)]
    script += [f"-X {chain}" for chain in sorted(chains)]
    script.append("COMMIT\n")
    done = subprocess.run(
        [f"{command}-restore", "--noflush"],
        input="\n".join(script),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"iptables-restore ({table}): {done.stderr.strip()}")
    return len(rules)


def _saved(table: str, command: str = "iptables") -> list[str]:
    return run(f"{command}-save", "-t", table, check=False).stdout.splitlines()


def remove_cni_rules(network: str) -> int:
    """Delete the iptables rules CNI plugins made for `network` (the bridge plugin's
    per-pod masquerade chains) that a pod's teardown did not; returns how many."""
    removed = 0
    marker = f'name: \\"{network}\\"'
    shared = {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SNAT", "CNI-HOSTPORT-MASQ", "CNI-FORWARD"}
    for table in ("nat", "filter"):
        rules = [line for line in _saved(table) if line.startswith("-A ") and marker in line]
        chains = {word for rule in rules for word in rule.split() if word.startswith("CNI-")}
        removed += _iptables_delete(table, rules, chains - shared)
    return removed


def remove_kube_chains() -> int:
    """Delete every KUBE-* chain and the jumps to them: what `kube-proxy --cleanup`
    leaves (the KUBE-FIREWALL chain kube-proxy shares with kubelets)."""
    removed = 0
    for command, _ in FAMILIES:
        for table in ("filter", "nat", "mangle"):
            saved = _saved(table, command)
            chains = {line[1:].split()[0] for line in saved if line.startswith(":KUBE-")}
            jumps = [
                line
                for line in saved
                if line.startswith("-A ")
                and line.split()[1] not in chains
                and any(f"-j {chain}" in line for chain in chains)
            ]
            removed += _iptables_delete(table, jumps, chains, command)
    return removed


def nft_tables() -> set[str] | None:
    """The nftables tables there are ("ip filter", "ip6 nat", ...); None without nft."""
    if not shutil.which("nft", path="/usr/sbin:/sbin:/usr/bin:/bin"):
        return None
    listed = run("nft", "list", "tables", check=False).stdout.splitlines()
    return {line.removeprefix("table ").strip() for line in listed if line.startswith("table ")}


def remove_new_empty_tables(before: set[str] | None) -> None:
    """Delete the iptables-nft tables that were not there before and hold nothing but
    their built-in chains (kube-proxy makes ip6 and mangle tables just to look)."""
    commands = {family: command for command, family in FAMILIES}
    now = nft_tables()
    for table in sorted(now - before if now is not None and before is not None else ()):
        family, _, name = table.partition(" ")
        if family not in commands:
            continue
        saved = _saved(name, commands[family])
        user_chains = [line for line in saved if line.startswith(":") and " - " in line]
        if not user_chains and not any(line.startswith("-A ") for line in saved):
            run("nft", "delete", "table", family, name, check=False)


def absent(paths: tuple[Path, ...]) -> list[Path]:
    """Which of `paths` do not exist yet (so remove_empty may take them away again)."""
    return [path for path in paths if not path.exists()]


def remove_empty(paths: list[Path]) -> None:
    """rmdir each of `paths` that exists and is empty, deepest first."""
    for path in sorted(paths, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            path.rmdir()


def read_sysctls(names: tuple[str, ...] = KUBELET_SYSCTLS) -> dict[str, str]:
    values = {}
    for name in names:
        with contextlib.suppress(OSError):
            values[name] = Path("/proc/sys", name).read_text().strip()
    return values


def restore_sysctls(values: dict[str, str]) -> None:
    for name, value in values.items():
        path = Path("/proc/sys", name)
        with contextlib.suppress(OSError):
            if path.read_text().strip() != value:
                path.write_text(value)


def remove_links_into(folder: Path, links_dir: Path) -> None:
    """Symlinks in `links_dir` that point into `folder` (the kubelet's
    /var/log/containers entries for the node's containers)."""
    if not links_dir.is_dir():
        return
    prefix = str(folder.resolve()) + "/"
    for link in links_dir.iterdir():
        with contextlib.suppress(OSError):
            if link.is_symlink() and os.readlink(link).startswith(prefix):
                link.unlink()


def remove_cni_results(folder: Path, results: Path = Path("/var/lib/cni/results")) -> None:
    """The CNI library's cached results (it keeps them in /var/lib/cni whatever the
    plugins' dataDir) for network namespaces under `folder`; a pod's teardown removes
    its own, a killed node's stay."""
    if not results.is_dir():
        return
    prefix = str(folder.resolve()) + "/"
    for cached in results.iterdir():
        with contextlib.suppress(OSError, ValueError):
            if str(json.loads(cached.read_text()).get("netns", "")).startswith(prefix):
                cached.unlink()
