"""Write the artifact folder (docs/artifacts.md) and the termination message."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import fsspec

from .errors import TrainerError

#: The kubelet keeps at most 4096 bytes of a termination message.
TERMINATION_LIMIT = 4096

MODEL_FILE = "model.ubj"
CARD_FILE = "model-card.json"
REFERENCE_FILE = "reference.json"
#: Every file the server reads: what the artifact digest covers (docs/artifacts.md).
COVERED_FILES = (CARD_FILE, MODEL_FILE, REFERENCE_FILE)
#: Where the artifact digest is written (hex, one line).
DIGEST_FILE = "model.sha256"
#: The listing the artifact digest is the sha256 of, as `sha256sum` writes it.
SUMS_FILE = "SHA256SUMS"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256sums(files: Mapping[str, bytes]) -> bytes:
    """`sha256sum`'s listing of the covered files, in byte order of their names: one
    `<hex sha256>  <name>` line each."""
    return b"".join(
        f"{sha256_hex(files[name])}  {name}\n".encode() for name in sorted(COVERED_FILES)
    )


def with_digest(files: Mapping[str, bytes]) -> tuple[dict[str, bytes], str]:
    """The artifact's files plus SHA256SUMS and model.sha256, and the artifact digest (hex):
    the sha256 of SHA256SUMS, i.e. of `sha256sum model-card.json model.ubj reference.json`."""
    sums = sha256sums(files)
    digest = sha256_hex(sums)
    return {**files, SUMS_FILE: sums, DIGEST_FILE: (digest + "\n").encode()}, digest


def write(location: str, files: dict[str, bytes]) -> None:
    """All files into one folder (local path or fsspec URL)."""
    try:
        fs, root = fsspec.core.url_to_fs(location)
        fs.makedirs(root, exist_ok=True)
        for name, data in files.items():
            with fs.open(f"{root.rstrip('/')}/{name}", "wb") as handle:
                handle.write(data)
    except ImportError as error:
        raise TrainerError(
            f"output {location}: this scheme needs an extra package: {error}"
        ) from error
    except OSError as error:
        raise TrainerError(f"output {location}: cannot write: {error}") from error


def as_json(document: Any) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def termination_message(summary: dict[str, Any]) -> str:
    """Compact JSON within the kubelet's limit: drop bulky fields before scalars."""
    text = json.dumps(summary, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) > TERMINATION_LIMIT:
        metrics = {k: v for k, v in summary.get("metrics", {}).items() if not isinstance(v, list)}
        text = json.dumps({**summary, "metrics": metrics}, separators=(",", ":"), sort_keys=True)
    return text


def write_termination_message(path: str, text: str) -> None:
    """Best effort: outside a container the file may not be writable."""
    with contextlib.suppress(OSError):
        Path(path).write_text(text)
