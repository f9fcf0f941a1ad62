"""The Kubernetes API client the handlers share (loaded once, in or out of the cluster)."""

from __future__ import annotations

import functools
from typing import Any

import kubernetes


@functools.cache
def api_client() -> kubernetes.client.ApiClient:
    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
    return kubernetes.client.ApiClient()


def batch() -> kubernetes.client.BatchV1Api:
    return kubernetes.client.BatchV1Api(api_client())


def core() -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api_client())


def custom() -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client())


def plain(obj: Any) -> dict[str, Any]:
    """A client model as the API server's camelCase JSON."""
    return api_client().sanitize_for_serialization(obj)  # type: ignore[no-any-return,no-untyped-call]


def get_or_none(call: Any, *args: Any, **kwargs: Any) -> Any:
    """The object, or None where it does not exist."""
    try:
        return call(*args, **kwargs)
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return None
        raise
