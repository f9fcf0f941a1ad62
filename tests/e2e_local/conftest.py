"""End-to-end releases with real metrics on one machine.

Real: the control plane and the operator (the session's, from
tests/integration/fixtures.py), the serving processes (`modelrelease-server`, one per
model version), a Prometheus server scraping them every second, and traffic from a load
generator (tests/realmetrics). Emulated: only the data plane's routing, which the load
generator does from the weights the operator wrote into the cluster
(tests/realmetrics/routing.py says why).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LATENCIES = pytest.StashKey[list[tuple[str, float]]]()
NOTES = pytest.StashKey[list[str]]()


# -- reporting ------------------------------------------------------------------------


def record_latency(config: pytest.Config, what: str, seconds: float) -> None:
    config.stash.setdefault(LATENCIES, []).append((what, seconds))


def note(config: pytest.Config, line: str) -> None:
    config.stash.setdefault(NOTES, []).append(line)


def latency_summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return (
        f"e2e decision latency: median {median:.2f} s, max {ordered[-1]:.2f} s "
        f"over {len(ordered)} decisions"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    latencies = config.stash.get(LATENCIES, [])
    notes = config.stash.get(NOTES, [])
    if not latencies and not notes:
        return
    terminalreporter.section("e2e releases with real metrics")
    for line in notes:
        terminalreporter.write_line(line)
    for what, seconds in latencies:
        terminalreporter.write_line(f"  {what}: {seconds:.2f} s")
    if latencies:
        terminalreporter.write_line(latency_summary([s for _, s in latencies]))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The scenarios need the local control plane, as the integration suite does.
    for item in items:
        if HERE in Path(str(item.path)).parents and "operator" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)
