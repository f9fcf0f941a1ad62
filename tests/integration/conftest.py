"""The integration suite's tests carry the `integration` marker. Their fixtures (the
control plane, the operator, namespaces) live in fixtures.py, which tests/conftest.py
imports so that tests/e2e_local shares the same session control plane and operator."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
