"""The three models of the release scenarios, trained by the real trainer, and an HTTP
artifact store that names them by `http://` URIs (a scheme a ModelRelease accepts).

- stable: loan-default, seed 7;
- good candidate: the same population, another sample and booster seed;
- bad candidate: trained on a shifted population (`shift=1.5`: poorer, more indebted
  borrowers, more defaults), so on the real (unshifted) traffic its scores drift away
  from both its training reference and the stable version's scores.
"""

from __future__ import annotations

import functools
import http.server
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .serving import Artifact

MODEL = "loan-default"
ROWS = 6000
#: Fewer rounds than the trainer's default: the scenarios need models quickly, not the
#: best ones (ROC AUC stays above 0.8 with these).
HYPERPARAMETERS: dict[str, object] = {"num_boost_round": 120, "early_stopping_rounds": 15}

STABLE = ("v1", f"builtin:{MODEL}?rows={ROWS}&seed=7", 7)
GOOD = ("v2", f"builtin:{MODEL}?rows={ROWS}&seed=8", 8)
BAD = ("v3-shifted", f"builtin:{MODEL}?rows={ROWS}&seed=9&shift=1.5", 9)


@dataclass(frozen=True)
class Models:
    stable: Artifact
    good: Artifact
    bad: Artifact


def _train(root: Path, version: str, uri: str, seed: int) -> Artifact:
    from tests.conftest import train  # at call time: tests/conftest.py imports this module

    folder = train(
        root / version, uri, version=version, hyperparameters={**HYPERPARAMETERS, "seed": seed}
    )
    return Artifact.read(folder, version)


def train_all(root: Path) -> Models:
    """Train the three in parallel (each trainer process uses its own core)."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(_train, root, *spec) for spec in (STABLE, GOOD, BAD)]
        stable, good, bad = (future.result() for future in futures)
    return Models(stable, good, bad)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # the test log would drown in GET lines


class ArtifactStore:
    """Serves `root` read-only over HTTP on loopback: `uri(artifact)` names a folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def uri(self, artifact: Artifact) -> str:
        return f"{self.url}/{artifact.path.relative_to(self.root).as_posix()}/"

    def __enter__(self) -> ArtifactStore:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
