"""What `kubectl modelrelease` prints, from releases as the API server returns them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from modelrelease_operator.cli import render

from tests.unit.release.builders import Simulation, make_spec, steady

from .releases import (
    GATES_WAITING,
    LATENCY_FAILED,
    NOW,
    TRAININGS,
    V0,
    V1,
    V2,
    history,
    release,
    rolling,
    stamp,
    training,
)

DOCS = Path(__file__).resolve().parents[3] / "docs"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        pytest.param(-5, "<invalid>", id="clock-skew"),
        pytest.param(0, "0s", id="zero"),
        pytest.param(119, "119s", id="under-two-minutes"),
        pytest.param(330, "5m30s", id="minutes-and-seconds"),
        pytest.param(600, "10m", id="ten-minutes"),
        pytest.param(75 * 60, "75m", id="under-three-hours"),
        pytest.param(3 * 3600 + 20 * 60, "3h20m", id="hours-and-minutes"),
        pytest.param(30 * 3600, "30h", id="under-two-days"),
        pytest.param((3 * 24 + 5) * 3600, "3d5h", id="days-and-hours"),
        pytest.param(45 * 86400, "45d", id="days"),
        pytest.param(800 * 86400, "2y70d", id="years-and-days"),
        pytest.param(9 * 365 * 86400, "9y", id="years"),
    ],
)
def test_ages_read_as_kubectl_prints_them(seconds: int, shown: str) -> None:
    assert render.human_duration(timedelta(seconds=seconds)) == shown


def test_the_list_has_kubectl_get_mr_columns_and_marks_missing_values() -> None:
    succeeded = release({"phase": "Succeeded", "stableVersion": "v1", "stable": V1})
    succeeded["metadata"]["name"] = "churn"
    text = render.release_table([release(rolling()), succeeded], NOW)
    assert text.splitlines() == [
        "NAME           PHASE         STAGE   WEIGHT   STABLE   CANDIDATE   AGE",
        "churn          Succeeded     -       -        v1       -           12m",
        "loan-default   Progressing   2/4     25       v1       v2          12m",
    ]


def test_a_release_the_operator_has_not_seen_yet_lists_with_dashes() -> None:
    line = render.release_table([release(None)], NOW).splitlines()[1]
    assert line.split() == ["loan-default", "-", "-", "-", "-", "-", "12m"]


def test_empty_lists_say_so() -> None:
    assert render.release_table([], NOW) == "No ModelReleases found."
    assert render.training_table([], [], NOW) == "No ModelTrainings found."


def test_trainings_show_their_version_metric_and_where_they_serve() -> None:
    rolled = release(rolling(previous=V0))
    waiting = release(
        {"phase": "Succeeded", "stable": V1, "stableVersion": "v1"},
        candidate={"training": "loan-default-v3"},
    )
    waiting["metadata"]["name"] = "shadow"
    rows = {
        line.split()[0]: line
        for line in render.training_table(
            list(TRAININGS.values()), [rolled, waiting], NOW
        ).splitlines()[1:]
    }
    assert rows["loan-default-v0"].split()[1:5] == [
        "Succeeded",
        "loan-default",
        "v0",
        "roc_auc=0.8102",
    ]
    assert "loan-default (previous)" in rows["loan-default-v0"]
    assert "loan-default (stable), shadow (stable)" in rows["loan-default-v1"]
    assert "loan-default (candidate)" in rows["loan-default-v2"]
    assert "shadow (candidate, not deployed)" in rows["loan-default-v3"]
    assert rows["loan-default-v3"].split()[1:5] == ["Running", "loan-default", "-", "-"]


# -- status, phase by phase -----------------------------------------------------------

PENDING_BOOTSTRAP = {
    "phase": "Pending",
    "message": "waiting for ModelTraining loan-default-v3 (Running)",
    "observedGeneration": 2,
    "stageIndex": -1,
}

CASES: list[Any] = [
    pytest.param(
        release(None, candidate={"training": "loan-default-v3"}),
        [
            "Phase:       Pending",
            "Message:     -",
            "  stable      -         (to deploy)   loan-default-v3   Running          -",
            "Stages (checks every 15s):",
            "  ├── 1/4   10%    1m",
        ],
        id="no-status-yet",
    ),
    pytest.param(
        release(PENDING_BOOTSTRAP, candidate={"training": "loan-default-v3"}),
        [
            "Message:     waiting for ModelTraining loan-default-v3 (Running)",
            "  stable      -         (to deploy)   loan-default-v3   Running          -",
        ],
        id="pending-first-model-training",
    ),
    pytest.param(
        release(
            {
                "phase": "Pending",
                "message": "waiting for ModelTraining loan-default-v3 (Running)",
                "stable": V1,
                "stableVersion": "v1",
                "stageIndex": -1,
            },
            candidate={"training": "loan-default-v3"},
        ),
        [
            "  stable      v1        100%        loan-default-v1   Succeeded        "
            "roc_auc=0.8249   sha256:aaaaaaaaaaaa",
            "  candidate   -         (waiting)   loan-default-v3   Running          -",
        ],
        id="pending-candidate-training",
    ),
    pytest.param(
        release(rolling(stageStartedAt=None, window=None, gates=[], candidateWeight=10)),
        [
            "Phase:       Progressing: stage 2/4, 10% on v2",
            "  ├── 2/4   25%    1m           "
            "<- now: waiting for the candidate's pods before moving 25% to it",
            "  stable      v1        90%      loan-default-v1   Succeeded        "
            "roc_auc=0.8249   sha256:aaaaaaaaaaaa",
        ],
        id="progressing-pods-starting",
    ),
    pytest.param(
        release(rolling(window=None, gates=[], stageStartedAt=stamp(11, 30))),
        ["  ├── 2/4   25%    1m           <- now: 25% set 30s ago; judging from the next check"],
        id="progressing-weight-set",
    ),
    pytest.param(
        release(rolling()),
        [
            "Phase:       Progressing: stage 2/4, 25% on v2",
            "Stages (checks every 15s; 0 of 2 failed checks allowed):",
            "  ├── 1/4   10%    1m           done",
            "  ├── 2/4   25%    1m           <- now: judged for 40s, 20s left",
            "  │   ├── traffic       Pass   412        min 100    n=412",
            "  │   ├── error-rate    Pass   0.002427   max 0.01   n=412",
            "  │   └── latency-p99   Pass   0.0875     max 0.25   n=412",
            "  ├── 3/4   50%    2m   pause",
            "  └── 4/4   100%   2m",
        ],
        id="progressing-judging",
    ),
    pytest.param(
        release(rolling(window={"startedAt": stamp(10)}, gates=GATES_WAITING, failedChecks=1)),
        [
            "Stages (checks every 15s; 1 of 2 failed checks allowed):",
            "  ├── 2/4   25%    1m           "
            "<- now: judged for 2m; time is up, waiting for every gate to pass (Wait)",
            "  │   ├── traffic      Inconclusive   -   -          n=12   "
            "12 candidate requests of the 100 needed",
            "  │   └── error-rate   Inconclusive   -   max 0.01   n=12   "
            "12 requests of the 100 needed",
        ],
        id="progressing-inconclusive-past-its-time",
    ),
    pytest.param(
        release(rolling(stageIndex=3, stage="4/4", promotingFully=True, stageStartedAt=None)),
        [
            "  ├── 3/4   50%    2m   pause   done",
            "  └── 4/4   100%   2m           "
            "<- now: waiting for the candidate's pods before moving 100% to it",
        ],
        id="progressing-promote-full",
    ),
    pytest.param(
        release(
            rolling(stageIndex=2, stage="3/4", candidateWeight=50),
            stages=[{"weight": 20, "duration": "1m"}, {"weight": 50, "duration": "1m"}],
        ),
        [
            "  ├── 1/3   20%    1m   done",
            "  ├── 2/3   50%    1m   done",
            "  └── 3/3   100%   -    implied: promote   <- now: promoting",
        ],
        id="progressing-implied-final-stage",
    ),
    pytest.param(
        release(rolling(phase="Paused", pausedReason="Manual")),
        [
            "Phase:       Paused (by a pause command): stage 2/4, 25% on v2",
            "  ├── 2/4   25%    1m           <- paused: by a pause command",
            "  │   ├── traffic       Pass   412        min 100    n=412",
        ],
        id="paused-manual",
    ),
    pytest.param(
        release(rolling(phase="Paused", pausedReason="Spec"), paused=True),
        ["Phase:       Paused (spec.paused is true): stage 2/4, 25% on v2"],
        id="paused-spec",
    ),
    pytest.param(
        release(rolling(phase="Paused", pausedReason="Stage", stageIndex=2, stage="3/4")),
        [
            "Phase:       Paused (the stage passed; waiting for promote): stage 3/4, 25% on v2",
            "  ├── 3/4   50%    2m   pause   <- paused: the stage passed; waiting for promote",
        ],
        id="paused-stage",
    ),
    pytest.param(
        release(rolling(phase="Paused", pausedReason="Inconclusive", gates=GATES_WAITING)),
        [
            "Phase:       Paused (a gate stayed inconclusive; waiting for a person): "
            "stage 2/4, 25% on v2",
        ],
        id="paused-inconclusive",
    ),
    pytest.param(
        release(
            {
                "phase": "Succeeded",
                "message": "v2 is the stable version; v1 is scaled down and kept for one rollback",
                "observedGeneration": 2,
                "stage": "4/4",
                "stageIndex": 3,
                "stable": V2,
                "stableVersion": "v2",
                "previous": V1,
                "lastCommand": {
                    "command": "promote-full",
                    "time": stamp(11),
                    "result": "promoting fully",
                },
                "history": history(
                    (11, "Succeeded", "4/4", 0, "Promoted", "v2 is the stable version; ...")
                ),
            }
        ),
        [
            "Phase:       Succeeded: v2 serves all traffic",
            "  stable     v2        100%     loan-default-v2   Succeeded        "
            "roc_auc=0.8311   sha256:bbbbbbbbbbbb",
            "  previous   v1        0%       loan-default-v1   Succeeded        "
            "roc_auc=0.8249   sha256:aaaaaaaaaaaa",
            "Stages (last rollout; checks every 15s):",
            "  ├── 3/4   50%    2m   pause   done",
            "  └── 4/4   100%   2m           promoted",
            "Last command:   promote-full, 60s ago: promoting fully",
            "History (last 1 of 1):",
        ],
        id="succeeded-promoted",
    ),
    pytest.param(
        release(
            {
                "phase": "Succeeded",
                "message": "v1 serves all traffic",
                "stageIndex": -1,
                "stable": V1,
                "stableVersion": "v1",
            },
            candidate={"training": "loan-default-v1"},
        ),
        ["Phase:       Succeeded: v1 serves all traffic", "Stages (checks every 15s):"],
        id="succeeded-steady",
    ),
    pytest.param(
        release(
            rolling(
                phase="RolledBack",
                message="gate latency-p99 failed: p99 seconds 0.41 > 0.25 over 1200",
                candidateWeight=0,
                gates=[LATENCY_FAILED],
                failedGate=LATENCY_FAILED,
                rejectedDigest=V2["digest"],
            )
        ),
        [
            "Phase:       RolledBack: all traffic on v1; v2 is out",
            "  stable      v1        100%     loan-default-v1   Succeeded        "
            "roc_auc=0.8249   sha256:aaaaaaaaaaaa",
            "  candidate   v2        0%       loan-default-v2   Succeeded        "
            "roc_auc=0.8311   sha256:bbbbbbbbbbbb",
            "  ├── 2/4   25%    1m           rolled back here",
            "  │   └── latency-p99   Fail   0.41   max 0.25   n=1200   "
            "p99 seconds 0.41 > 0.25 over 1200",
            "  ├── 3/4   50%    2m   pause   not reached",
            "Failed gate:   latency-p99 Fail 0.41 (max 0.25): p99 seconds 0.41 > 0.25 over 1200",
        ],
        id="rolled-back",
    ),
    pytest.param(
        release(
            {
                "phase": "Failed",
                "message": "risk check failed: roc_auc 0.79 vs stable 0.8249 "
                "(worse by 0.0349, allowed 0)",
                "stageIndex": -1,
                "stable": V1,
                "stableVersion": "v1",
                "candidate": {**V2, "training": "loan-default-v3"},
                "candidateVersion": "v2",
                "risk": {
                    "passed": False,
                    "message": "risk check failed: roc_auc 0.79 vs stable 0.8249 "
                    "(worse by 0.0349, allowed 0)",
                },
            },
            candidate={"training": "loan-default-v3"},
        ),
        [
            "Phase:       Failed: all traffic on v1; v2 is out",
            "  candidate   v2   0%   loan-default-v3   Running   -   sha256:bbbbbbbbbbbb",
            "Risk check: failed: roc_auc 0.79 vs stable 0.8249 (worse by 0.0349, allowed 0)",
        ],
        id="failed-risk-check",
    ),
    pytest.param(
        release(
            rolling(
                phase="Failed",
                candidateWeight=0,
                message="the candidate's pods were not ready within 10m",
            )
        ),
        [
            "  ├── 2/4   25%    1m           failed here",
            "  └── 4/4   100%   2m           not reached",
        ],
        id="failed-candidate-not-ready",
    ),
    pytest.param(
        release({**rolling(), "observedGeneration": 1}, generation=2),
        [
            "            (the operator has not acted on generation 2 yet; "
            "this is what it made of generation 1)"
        ],
        id="spec-not-observed-yet",
    ),
    pytest.param(
        release(rolling(candidate={**V2, "training": "gone"})),
        ["  candidate   v2   25%   gone   (not found)   -   sha256:bbbbbbbbbbbb"],
        id="training-deleted",
    ),
]


def _words(line: str) -> str:
    return " ".join(line.split())


@pytest.mark.parametrize(("body", "lines"), CASES)
def test_status_shows_each_phase(body: dict[str, Any], lines: list[str]) -> None:
    """Line by line, blanks aside (column widths follow the content; the documented
    example below holds the exact layout)."""
    text = render.release_status(body, TRAININGS, NOW)
    shown = {_words(line) for line in text.splitlines()}
    for line in lines:
        assert _words(line) in shown, text


@pytest.mark.parametrize(("body", "lines"), CASES)
def test_status_names_the_release_and_its_versions(body: dict[str, Any], lines: list[str]) -> None:
    shown = render.release_status(body, TRAININGS, NOW)
    assert shown.startswith(
        "Name:        loan-default\nNamespace:   ml\nModel:       loan-default\n"
    )
    assert "\nVersions:\n  TRACK " in shown and "\nStages (" in shown
    # Aligned output has no trailing blanks.
    assert all(line == line.rstrip() for line in shown.splitlines())


def test_history_shows_the_newest_entries_oldest_first() -> None:
    entries = [
        (minute, "Progressing", "1/4", 10, f"R{minute}", f"entry {minute}") for minute in range(8)
    ]
    body = release(rolling(history=history(*entries)))
    shown = render.release_status(body, TRAININGS, NOW).splitlines()
    start = shown.index("History (last 5 of 8):")
    assert shown[start + 1].split() == ["AGE", "PHASE", "STAGE", "WEIGHT", "REASON", "MESSAGE"]
    assert [line.split()[4] for line in shown[start + 2 :]] == ["R3", "R4", "R5", "R6", "R7"]
    assert shown[start + 2].split()[0] == "9m"


@pytest.mark.parametrize(
    ("name", "threshold", "shown"),
    [
        pytest.param("traffic", 100, "min 100", id="traffic"),
        pytest.param("accuracy", 0.9, "min 0.9", id="accuracy"),
        pytest.param("relative-error-rate", 0.05, "alpha 0.05", id="p-value"),
        pytest.param("custom:queue", 3, "bound 3", id="custom"),
        pytest.param("drift", 0.2, "max 0.2", id="drift"),
        pytest.param("relative-latency", 1.5, "max 1.5", id="ratio"),
    ],
)
def test_each_gate_says_which_way_its_threshold_bounds(
    name: str, threshold: float, shown: str
) -> None:
    gate = {"name": name, "verdict": "Pass", "value": 1, "threshold": threshold, "samples": 5}
    text = render.release_status(release(rolling(gates=[gate])), TRAININGS, NOW)
    assert re.search(rf"{re.escape(name)}\s+Pass\s+1\s+{shown}\s+n=5", text), text


# -- every status the operator's own decisions produce ----------------------------------


def test_every_status_of_a_simulated_rollout_renders() -> None:
    """The operator's state machine walked through a rollout, a pause, a manual promote
    and an abort: each status it writes prints with its phase."""
    sim = Simulation(make_spec(), steady())
    bodies = []

    def tick(command: str | None = None) -> None:
        sim.tick(command=command)
        bodies.append(release(sim.status.to_wire()))

    for _ in range(6):
        tick()
    tick("pause")
    tick()
    tick("resume")
    tick("promote")
    for _ in range(3):
        tick()
    tick("abort")
    tick("retry")
    for _ in range(40):
        tick()
    phases = {body["status"]["phase"] for body in bodies}
    assert {"Progressing", "Paused", "RolledBack", "Pending", "Succeeded"} <= phases
    for body in bodies:
        now = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
        text = render.release_status(body, {"v1": training("v1", "Succeeded")}, now)
        assert f"Phase:       {body['status']['phase']}" in text


def test_status_shows_health_and_the_retraining_of_a_degraded_release() -> None:
    """The loop's own simulation (tests/unit/release/test_retraining.py): degraded,
    then retraining; the status says both and why."""
    from tests.unit.release.test_retraining import loop, until_created

    sim = loop()
    until_created(sim)
    body = release(sim.status.to_wire())
    body["spec"] = sim.spec.to_wire()
    text = render.release_status(body, {}, sim.now)
    health = next(line for line in text.splitlines() if line.startswith("Health:"))
    assert re.search(r"Health: +Degraded: drift [0-9.]+ \(max 0\.2\) since 2026-", health)
    retrain = next(line for line in text.splitlines() if line.startswith("Retraining:"))
    assert "loan-retrain-1 (in flight, Creating; Degraded: drift: PSI" in retrain
    assert retrain.endswith(f"on s3://data/loan/{sim.now:%Y-%m-%d}/part-1.parquet")


# -- the documented example -----------------------------------------------------------


def test_the_example_in_docs_plugin_md_is_what_status_prints() -> None:
    """docs/plugin.md shows `status` for the release of releases.py's `rolling()`: the
    same text, so the docs cannot drift from the renderer."""
    text = (DOCS / "plugin.md").read_text()
    match = re.search(
        r"```console\n\$ kubectl modelrelease status loan-default\n(.*?)```", text, re.DOTALL
    )
    assert match, "docs/plugin.md has no `status loan-default` example"
    assert match.group(1).rstrip("\n") == render.release_status(release(rolling()), TRAININGS, NOW)
