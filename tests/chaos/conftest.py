"""The chaos suite: the operator killed with SIGKILL at every transition of a rollout,
the API server and Prometheus frozen (SIGSTOP) in the middle of a stage.

Everything is real, as in tests/integration and tests/e2e_local, whose session fixtures
(control plane, operator, Prometheus, models, serving processes) it shares through
tests/conftest.py: so its tests carry the `integration` marker too. The pytest summary
shows each kill and how long the operator took to come back, and each outage.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
LINES = pytest.StashKey[list[str]]()


def report(config: pytest.Config, line: str) -> None:
    """A line for the "chaos" section of the summary."""
    config.stash.setdefault(LINES, []).append(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(LINES, [])
    if not lines:
        return
    terminalreporter.section("chaos: kills and outages")
    for line in lines:
        terminalreporter.write_line(line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
