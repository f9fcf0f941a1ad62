"""The server image started from the Deployment the operator renders for a release."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml
from modelrelease_operator import security
from modelrelease_operator.api.release import ModelRef, ModelReleaseSpec
from modelrelease_operator.release.routing import Owner, deployment

from tests.controlplane.processes import free_port

from . import podman

EXAMPLE = podman.REPO / "manifests" / "examples" / "release-loan-default.yaml"


def start_server(
    image: podman.Image,
    model: ModelRef,
    workdir: Path,
    name: str,
    *,
    store: Path | None = None,
    env_from: Mapping[str, str] | None = None,
) -> str:
    """Start the candidate Deployment's container of the example release serving
    `model` (its port moved to a free one, the network being the host's); returns the
    base URL once the server answers /v2/health/live."""
    document = yaml.safe_load(EXAMPLE.read_text())
    spec = ModelReleaseSpec.model_validate(document["spec"])
    port = free_port()
    spec = spec.model_copy(update={"serving": spec.serving.model_copy(update={"port": port})})
    rendered = deployment(spec, Owner("loan-default", "default", "uid"), model, "candidate", 1)
    pod: dict[str, Any] = rendered["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    container["image"] = image.ref
    volumes = {"tmp": podman.writable_folder(workdir / f"{name}-tmp", security.RUN_AS)}
    if store is not None:
        volumes["artifacts"] = store
    args = podman.run_args(
        container, pod["securityContext"], volumes=volumes, env_from=env_from, name=name
    )
    args.insert(2, "--detach")
    started = podman.run(args, timeout=120)
    assert started.returncode == 0, started.stderr
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/v2/health/live", timeout=2).status_code == 200:
                return url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"server container never answered:\n{podman.logs(name)}")
        time.sleep(0.3)
