"""Images the real node has without pulling anything: archives written from the static
programs of gomod/nodeimages (built by build-binaries.sh --real-node), cached beside
the binaries and imported with ctr.
"""

from __future__ import annotations

from pathlib import Path

from . import ociimage

#: The sandbox image containerd is configured with (pinned, so never collected).
SANDBOX_IMAGE = "registry.k8s.io/pause:3.10"
#: A test image: `webserve` answers HTTP on :8080 as user 10001.
WEBSERVE_IMAGE = "modelrelease.dev/webserve:test"


def pause_image(bin_dir: Path) -> Path:
    """The sandbox image (the `pause` program, as registry.k8s.io/pause:3.10) as an OCI
    archive, written once beside the binaries."""
    archive = bin_dir.parent / "images" / "pause-3.10.tar"
    if not archive.is_file():
        files = {"/pause": bin_dir / "pause"}
        ociimage.write(ociimage.Image(SANDBOX_IMAGE, files, ["/pause"], user="65535"), archive)
    return archive


def webserve_image(bin_dir: Path) -> Path:
    """WEBSERVE_IMAGE as an OCI archive, written once beside the binaries. Its
    entrypoint is `/webserve` (flags -listen=:8080, -text=...); /healthz answers "ok"
    and every other path the text, with one log line per request."""
    archive = bin_dir.parent / "images" / "webserve-test.tar"
    if not archive.is_file():
        files = {"/webserve": bin_dir / "webserve"}
        image = ociimage.Image(WEBSERVE_IMAGE, files, ["/webserve"], user="10001:10001")
        ociimage.write(image, archive)
    return archive
