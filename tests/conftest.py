"""Fixtures shared by every suite: a real model trained by the real trainer, the control
plane and the operator (tests/integration/fixtures.py), and real serving metrics
(tests/realmetrics/fixtures.py): one of each per session, whichever suites run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration import fixtures as controlplane_fixtures
from tests.integration.fixtures import (  # noqa: F401 (fixtures)
    control_plane,
    gateway_api,
    installed,
    kube_api,
    namespace,
    operator,
    operator_process,
    trainings,
    wait,
)
from tests.realmetrics.fixtures import (  # noqa: F401 (fixtures)
    artifact_store,
    models,
    prometheus,
    serving,
)

REPO = Path(__file__).resolve().parent.parent


def train(
    tmp: Path,
    uri: str,
    *,
    task: str = "binary",
    label: str = "default",
    hyperparameters: dict[str, object] | None = None,
    version: str = "v1",
) -> Path:
    """Run the trainer as a process; returns the artifact folder."""
    config = {
        "modelName": "loan-default",
        "version": version,
        "task": task,
        "dataset": {"uri": uri, "labelColumn": label},
        "hyperparameters": hyperparameters or {},
        "output": {"path": str(tmp / "artifact")},
        "terminationMessagePath": str(tmp / "termination-log"),
    }
    tmp.mkdir(parents=True, exist_ok=True)
    config_path = tmp / "config.json"
    config_path.write_text(json.dumps(config))
    subprocess.run(
        [sys.executable, "-m", "modelrelease_trainer", "--config", str(config_path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return tmp / "artifact"


@pytest.fixture(scope="session")
def loan_default_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifact folder (docs/artifacts.md) for builtin:loan-default, version v1."""
    return train(
        tmp_path_factory.mktemp("loan-default-v1"), "builtin:loan-default?rows=8000&seed=7"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    controlplane_fixtures.summary(terminalreporter)
