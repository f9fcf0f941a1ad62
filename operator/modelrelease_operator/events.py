"""Kubernetes Events on the custom resources, posted through the API directly.

Kopf's `kopf.event` works only inside its handlers' context; reconciles started by the
operator's own loops (resync, release ticks) run outside it. Events are best effort: a
refused Event is logged and never fails the reconcile that decided it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kubernetes

from . import kube

log = logging.getLogger(__name__)
COMPONENT = "modelrelease-operator"
#: The API server refuses longer messages.
MESSAGE_LIMIT = 1024


def render(
    body: Mapping[str, Any], *, type: str, reason: str, message: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event about `body`."""
    meta = body["metadata"]
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": body.get("apiVersion"),
            "kind": body.get("kind"),
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        },
        "type": type,
        "reason": reason,
        "message": message[:MESSAGE_LIMIT],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": socket.gethostname()[:128],
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def post(body: Mapping[str, Any], *, type: str, reason: str, message: str) -> None:
    event = render(body, type=type, reason=reason, message=message, now=datetime.now(UTC))
    try:
        kube.core().create_namespaced_event(event["metadata"]["namespace"], event)  # type: ignore[arg-type]
    except kubernetes.client.ApiException as error:
        log.warning(
            "event %s on %s refused: %s %s",
            reason,
            body["metadata"]["name"],
            error.status,
            error.reason,
        )
