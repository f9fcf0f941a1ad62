"""The one way both kinds write their status: only what changed, and only onto the
version of the object the decision was made from.

The patch is a JSON merge patch of the difference (fields that went away become null),
with `metadata.resourceVersion` as a precondition: a status decided from a stale read is
refused with 409 instead of overwriting a newer decision, and the caller decides again
from a fresh read. Kopf's own `status.kopf` bookkeeping is left alone.
"""

from __future__ import annotations

from typing import Any, cast

from .. import kube
from ..api import GROUP, VERSION
from ..release.patches import merge_patch


def write(plural: str, body: dict[str, Any], status: dict[str, Any]) -> dict[str, Any] | None:
    """Write `status` (wire form) onto `body`'s object; the object as written, or None
    when nothing changed. Raises the client's ApiException (409 on a stale read)."""
    meta = body["metadata"]
    written = {k: v for k, v in (body.get("status") or {}).items() if k != "kopf"}
    change = merge_patch(written, status)
    if not change:
        return None
    written_object = kube.custom().patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        meta["namespace"],
        plural,
        meta["name"],
        {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": change},
    )
    return cast(dict[str, Any], written_object)
