from __future__ import annotations

import pytest
from modelrelease_operator.api.training import ModelTrainingSpec

from .specs import make_spec


@pytest.fixture
def spec() -> ModelTrainingSpec:
    return make_spec()
