"""Write the artifact folder (docs/artifacts.md) and the termination message."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import fsspec

from .errors import TrainerError

#: The kubelet keeps at most 4096 bytes of a termination message.
TERMINATION_LIMIT = 4096


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
