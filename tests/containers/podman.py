"""Containers as the kubelet would run them, under podman: the images `make images`
built, started from the container specs the operator renders, with the same user,
read-only root filesystem, dropped capabilities, no privilege escalation and the
runtime's default seccomp profile."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "images" / "build.sh"
ENGINE = "podman"
#: Root here may not raise RLIMIT_NOFILE above its own hard limit (no CAP_SYS_RESOURCE),
#: which podman's defaults ask for.
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096")


@dataclass(frozen=True)
class Image:
    ref: str
    archive: Path
    digest: str


def missing() -> str | None:
    """Why containers cannot run here, or None."""
    if shutil.which(ENGINE) is None:
        return f"{ENGINE} is not installed (apt-get install podman buildah debootstrap)"
    return None


def build_images(out: Path) -> dict[str, Image]:
    """images/build.sh (cached: seconds when nothing changed) → images by short name."""
    done = subprocess.run(
        ["bash", str(BUILD), str(out)], capture_output=True, text=True, timeout=3600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"images/build.sh failed ({done.returncode}):\n{done.stderr[-4000:]}")
    images = {}
    for line in done.stdout.splitlines():
        ref, archive, digest = line.split()
        images[ref.rsplit("/", 1)[1].split(":")[0]] = Image(ref, Path(archive), digest)
    return images


def run_args(
    container: Mapping[str, Any],
    pod_security: Mapping[str, Any],
    *,
    volumes: Mapping[str, Path],
    env_from: Mapping[str, str] | None = None,
    downward: Mapping[str, str] | None = None,
    name: str,
) -> list[str]:
    """`podman run` arguments for a Pod's container.

    `volumes` maps each volume the container mounts to a host folder (or file), as the
    kubelet would give it an emptyDir, a claim or the termination log. The network is
    the host's: the tests' servers listen on loopback.
    """
    security = {**pod_security, **container.get("securityContext", {})}
    args = [ENGINE, "run", "--name", name, *ULIMITS, "--network", "host", "--pull", "never"]
    args += ["--user", f"{security['runAsUser']}:{security['runAsGroup']}"]
    if "fsGroup" in security:
        args += ["--group-add", str(security["fsGroup"])]
    if security.get("readOnlyRootFilesystem"):
        # No tmpfs of podman's own on /tmp, /run, /var/tmp: only what the pod mounts.
        args += ["--read-only", "--read-only-tmpfs=false"]
    for capability in security.get("capabilities", {}).get("drop", []):
        args += ["--cap-drop", capability]
    if security.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        raise ValueError("only the runtime's default seccomp profile is modelled")
    for variable in container.get("env", []):
        args += ["--env", f"{variable['name']}={_env_value(variable, downward or {})}"]
    for key, value in (env_from or {}).items():
        args += ["--env", f"{key}={value}"]
    for mount in container.get("volumeMounts", []):
        mode = "ro" if mount.get("readOnly") else "rw"
        args += ["--volume", f"{volumes[mount['name']]}:{mount['mountPath']}:{mode}"]
    if "terminationMessagePath" in container:
        args += ["--volume", f"{volumes['termination-log']}:{container['terminationMessagePath']}"]
    if "command" in container:
        args += ["--entrypoint", container["command"][0]]
    args.append(container["image"])
    args += [*container.get("command", [])[1:], *container.get("args", [])]
    return args


def _env_value(variable: Mapping[str, Any], downward: Mapping[str, str]) -> str:
    """An env entry's value: as written, or the downward API's field (`downward` maps a
    fieldPath such as metadata.name to what the kubelet would fill in)."""
    if "value" in variable:
        return str(variable["value"])
    path = ((variable.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
    if path not in downward:
        raise ValueError(f"env {variable['name']}: give run_args a value for {path or variable}")
    return downward[path]


def writable_folder(path: Path, uid: int) -> Path:
    """A host folder the container's user may write, like an emptyDir with fsGroup."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.chown(path, uid, uid)
    return path


def writable_file(path: Path, uid: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    shutil.chown(path, uid, uid)
    return path


def run(args: Sequence[str], *, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)


def remove(name: str) -> None:
    run([ENGINE, "rm", "--force", "--time", "5", name], timeout=60)


def logs(name: str) -> str:
    done = run([ENGINE, "logs", name], timeout=60)
    return done.stdout + done.stderr
