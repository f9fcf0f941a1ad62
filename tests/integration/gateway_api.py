"""The Gateway API CRDs, from the `sigs.k8s.io/gateway-api` Go module (standard channel)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

MODULE = "sigs.k8s.io/gateway-api@v1.4.1"
KINDS = ("gatewayclasses", "gateways", "httproutes")


def crd_documents() -> list[dict[str, Any]]:
    """The CRDs the gateway-api router needs; `go mod download` fetches the module once
    into the Go module cache."""
    go = shutil.which("go")
    if go is None:
        raise FileNotFoundError("go is not installed: cannot fetch " + MODULE)
    done = subprocess.run(
        [go, "mod", "download", "-json", MODULE],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    folder = Path(json.loads(done.stdout)["Dir"]) / "config" / "crd" / "standard"
    return [
        yaml.safe_load((folder / f"gateway.networking.k8s.io_{kind}.yaml").read_text())
        for kind in KINDS
    ]
