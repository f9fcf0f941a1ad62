"""`modelrelease-server`: serve one model artifact over HTTP (Open Inference Protocol V2)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import tempfile
from pathlib import Path

from .settings import ENV_PREFIX, Settings

# Flags that map one-to-one onto settings; the environment gives the defaults.
FLAGS = (
    "artifact",
    "expected_digest",
    "model_name",
    "model_version",
    "host",
    "port",
    "workers",
    "log_level",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelrelease-server", description=__doc__)
    for flag in FLAGS:
        field = Settings.model_fields[flag]
        parser.add_argument(f"--{flag.replace('_', '-')}", help=field.description)
    args = parser.parse_args(argv)
    # Workers build their own Settings from the environment, so flags travel through it.
    for flag in FLAGS:
        value = getattr(args, flag)
        if value is not None:
            os.environ[ENV_PREFIX + flag.upper()] = str(value)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _prepare_metrics_dir(settings)

    import uvicorn  # imported late: PROMETHEUS_MULTIPROC_DIR must be set before any worker

    # uvicorn re-raises SIGTERM once its graceful shutdown is done; with a no-op handler
    # beneath its own, that ends in a normal exit (status 0), not death by signal.
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        "modelrelease_server.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=settings.access_log,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=int(settings.graceful_timeout_seconds),
        server_header=False,
    )
    return 0


def _prepare_metrics_dir(settings: Settings) -> None:
    """Multiprocess metrics need a writable folder shared by the workers, emptied per start."""
    folder = settings.metrics_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder is None and settings.workers > 1:
        folder = tempfile.mkdtemp(prefix="modelrelease-metrics-")
    if folder is None:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


if __name__ == "__main__":
    raise SystemExit(main())
