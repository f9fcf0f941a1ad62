"""When the current stage ends: the look that moves a rollout on is timed to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelrelease_operator.api.release_status import ModelReleaseStatus, Window
from modelrelease_operator.release.stages import seconds_to_stage_end

from .builders import V1, V2, make_spec

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def rolling(
    stage_index: int, started_seconds_ago: float, phase: str = "Progressing"
) -> ModelReleaseStatus:
    started = (NOW - timedelta(seconds=started_seconds_ago)).isoformat()
    return ModelReleaseStatus.model_validate(
        {
            "phase": phase,
            "stable": V1.to_wire(),
            "candidate": V2.to_wire(),
            "stageIndex": stage_index,
            "window": Window(started_at=started).to_wire(),
        }
    )


def test_seconds_left_in_the_current_stage() -> None:
    spec = make_spec(
        stages=[
            {"weight": 10, "duration": "1m", "minRequests": 0},
            {"weight": 50, "duration": "90s", "minRequests": 0},
        ]
    )
    assert seconds_to_stage_end(spec, rolling(0, 45), NOW) == 15.0
    assert seconds_to_stage_end(spec, rolling(1, 45), NOW) == 45.0
    assert seconds_to_stage_end(spec, rolling(1, 100), NOW) == -10.0  # overdue


def test_no_stage_is_timed_without_a_rollout_in_progress() -> None:
    spec = make_spec()
    assert seconds_to_stage_end(spec, rolling(0, 10, phase="Paused"), NOW) is None
    assert seconds_to_stage_end(spec, ModelReleaseStatus(phase="Succeeded"), NOW) is None
    waiting = rolling(0, 10).model_copy(update={"window": None})
    assert seconds_to_stage_end(spec, waiting, NOW) is None
    # The implied final step (stages stopping short of 100) has no duration to wait out.
    short = make_spec(stages=[{"weight": 50, "duration": "1m", "minRequests": 0}])
    assert seconds_to_stage_end(short, rolling(1, 0), NOW) == 0.0
