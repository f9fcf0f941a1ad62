"""Single-layer OCI image archives written without a container engine.

The real node's containerd imports them with `ctr images import` (nothing is ever
pulled): the pause image its pods' sandboxes run, and small test images made of one
static binary. The archive is an OCI image layout in a tar; its index names the image
(`io.containerd.image.name`), and the same inputs always give the same digests.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
INDEX = "application/vnd.oci.image.index.v1+json"
GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class Image:
    #: A full reference, e.g. "registry.k8s.io/pause:3.10".
    name: str
    #: Path inside the image -> file on this machine (copied with mode 0755).
    files: Mapping[str, Path]
    entrypoint: Sequence[str]
    cmd: Sequence[str] = ()
    #: "UID[:GID]" the image runs as when the pod does not say.
    user: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


def architecture() -> str:
    machine = platform.machine()
    return GOARCH.get(machine, machine)


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    archive.addfile(info, io.BytesIO(data))


def _add_dir(archive: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
    archive.addfile(info)


def _layer(image: Image) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        # Mount points the runtime expects; /tmp stays writable only through volumes.
        for folder in ("dev", "etc", "proc", "sys", "tmp"):
            _add_dir(layer, folder, 0o1777 if folder == "tmp" else 0o755)
        made: set[str] = set()
        for inside, source in sorted(image.files.items()):
            parts = inside.strip("/").split("/")
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if parent not in made:
                    made.add(parent)
                    _add_dir(layer, parent)
            _add(layer, "/".join(parts), source.read_bytes(), 0o755)
    return buffer.getvalue()


def _blob(archive: tarfile.TarFile, data: bytes, media_type: str) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    _add(archive, f"blobs/sha256/{digest}", data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def write(image: Image, archive_path: Path) -> str:
    """Write `image` as an OCI layout tar at `archive_path` (atomically); returns the
    manifest digest, which is what containerd reports for the image."""
    layer = _layer(image)
    arch = architecture()
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {
            "Entrypoint": list(image.entrypoint),
            "Cmd": list(image.cmd) or None,
            "User": image.user,
            "WorkingDir": "/",
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Labels": dict(image.labels) or None,
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }
    archive_path.parent.mkdir(parents=True, exist_ok=True)
    partial = archive_path.with_name(f".{archive_path.name}.{os.getpid()}")
    with tarfile.open(partial, mode="w", format=tarfile.PAX_FORMAT) as archive:
        _add(archive, "oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": _blob(archive, _json(config), CONFIG),
            "layers": [_blob(archive, layer, LAYER)],
        }
        descriptor = _blob(archive, _json(manifest), MANIFEST)
        descriptor["platform"] = {"architecture": arch, "os": "linux"}
        descriptor["annotations"] = {
            "io.containerd.image.name": image.name,
            "org.opencontainers.image.ref.name": image.name.rpartition(":")[2],
        }
        index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [descriptor]}
        _add(archive, "index.json", _json(index))
    partial.replace(archive_path)
    return str(descriptor["digest"])
