"""Labels and names every object the operator makes carries."""

from __future__ import annotations

import hashlib

from .api import GROUP

MANAGED_BY = "modelrelease-operator"
MODEL_LABEL = f"{GROUP}/model"
TRAINING_LABEL = f"{GROUP}/training"
RELEASE_LABEL = f"{GROUP}/release"
#: On a release's serving objects: the model version, and stable/candidate/previous.
VERSION_LABEL = f"{GROUP}/version"
TRACK_LABEL = f"{GROUP}/track"
#: On a ModelTraining that spec.retraining created: the release's name.
RETRAINING_OF = f"{GROUP}/retraining-of"
#: The annotation a manual command arrives in (release/commands.py).
COMMAND_ANNOTATION = f"{GROUP}/command"


def standard(
    *, name: str, component: str, instance: str, version: str | None = None
) -> dict[str, str]:
    """The app.kubernetes.io/* set."""
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "modelrelease",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    if version:
        labels["app.kubernetes.io/version"] = label_value(version)
    return labels


def label_value(value: str) -> str:
    """A label value: at most 63 characters, alphanumeric at both ends."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in value)
    if len(cleaned) > 63:
        cleaned = cleaned[:54] + "-" + hashlib.sha256(value.encode()).hexdigest()[:8]
    return cleaned.strip("-_.") or "x"


def child_name(owner: str, suffix: str) -> str:
    """A DNS-label name derived from the owner's, stable and at most 63 characters."""
    name = f"{owner}-{suffix}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(owner.encode()).hexdigest()[:8]
    return f"{owner[: 63 - len(suffix) - 10]}-{digest}-{suffix}"


def owner_reference(*, api_version: str, kind: str, name: str, uid: str) -> dict[str, object]:
    """Makes the garbage collector delete the child with its owner."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
