from __future__ import annotations

from datetime import UTC, datetime

import kubernetes_validate
from modelrelease_operator.events import MESSAGE_LIMIT, render

BODY = {
    "apiVersion": "modelrelease.dev/v1alpha1",
    "kind": "ModelRelease",
    "metadata": {"name": "loan-default", "namespace": "models", "uid": "u-1"},
}


def test_event_names_the_resource_and_is_a_valid_core_event() -> None:
    event = render(
        BODY,
        type="Normal",
        reason="Promoted",
        message="v2 is stable",
        now=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
    )
    assert event["involvedObject"] == {
        "apiVersion": "modelrelease.dev/v1alpha1",
        "kind": "ModelRelease",
        "name": "loan-default",
        "namespace": "models",
        "uid": "u-1",
    }
    assert event["metadata"] == {"generateName": "loan-default.", "namespace": "models"}
    assert event["lastTimestamp"] == "2026-11-23T10:00:00Z"
    kubernetes_validate.validate(event, "1.36.0", strict=True)


def test_long_messages_are_cut_to_what_the_api_server_takes() -> None:
    event = render(
        BODY,
        type="Warning",
        reason="InvalidSpec",
        message="x" * 5000,
        now=datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert len(event["message"]) == MESSAGE_LIMIT
