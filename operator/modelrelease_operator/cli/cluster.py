"""The plugin's only contact with the API server: connect as kubectl would, read releases
and trainings, write a command annotation or spec.paused."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import urllib3

from ..api import GROUP, VERSION
from ..labels import COMMAND_ANNOTATION

RELEASES = "modelreleases"
TRAININGS = "modeltrainings"
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class ClusterError(Exception):
    """Something the user can act on, said in one line."""


@dataclass(frozen=True)
class Connection:
    api: kubernetes.client.ApiClient
    #: The context's namespace (or "default"), for when -n is not given.
    namespace: str


def connect(kubeconfig: str | None, context: str | None) -> Connection:
    """Like kubectl: --kubeconfig, else $KUBECONFIG (a list of files is merged), else
    ~/.kube/config; --context, else the current context; in a pod without any of them,
    its ServiceAccount."""
    path = kubeconfig or os.environ.get("KUBECONFIG") or None
    default = Path("~/.kube/config").expanduser()
    if path is None and not default.exists() and IN_CLUSTER_NAMESPACE.exists():
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
        return Connection(kubernetes.client.ApiClient(), IN_CLUSTER_NAMESPACE.read_text().strip())
    config = path or str(default)
    try:
        api = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=config, context=context, persist_config=False
        )
        contexts, current = kubernetes.config.list_kube_config_contexts(config)  # type: ignore[no-untyped-call]
    except (kubernetes.config.ConfigException, OSError) as error:
        raise ClusterError(f"cannot load kubeconfig {config}: {error}") from error
    chosen = next((c for c in contexts if c["name"] == context), current) if context else current
    namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
    return Connection(api, str(namespace))


class Cluster:
    """Releases and trainings of one namespace."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.custom = kubernetes.client.CustomObjectsApi(api)

    def release(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call(
            f'modelrelease "{name}"',
            self.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            RELEASES,
            name,
        )
        return found

    def releases(self) -> list[dict[str, Any]]:
        found = self._call(
            "modelreleases",
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            RELEASES,
        )
        return list(found["items"])

    def trainings(self) -> list[dict[str, Any]]:
        found = self._call(
            "modeltrainings",
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            TRAININGS,
        )
        return list(found["items"])

    def trainings_of(self, release: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The ModelTrainings a release names, in spec or status, by name (those that
        exist; one list call rather than a get per name)."""
        wanted = set()
        for part in (release.get("spec") or {}, release.get("status") or {}):
            for track in ("stable", "candidate", "previous"):
                name = (part.get(track) or {}).get("training")
                if name:
                    wanted.add(name)
        if not wanted:
            return {}
        return {
            t["metadata"]["name"]: t for t in self.trainings() if t["metadata"]["name"] in wanted
        }

    def annotate(self, name: str, command: str) -> None:
        body = {"metadata": {"annotations": {COMMAND_ANNOTATION: command}}}
        self._call(
            f'modelrelease "{name}"',
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            RELEASES,
            name,
            body,
        )

    def set_paused(self, name: str, paused: bool) -> int:
        """Set spec.paused; returns the generation that carries it."""
        patched = self._call(
            f'modelrelease "{name}"',
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            RELEASES,
            name,
            {"spec": {"paused": paused}},
        )
        return int(patched["metadata"]["generation"])

    def _call(self, what: str, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                raise ClusterError(f'{what} not found in namespace "{self.namespace}"') from error
            raise ClusterError(
                f"{what}: {error.status} {error.reason}: {_message(error)}"
            ) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:  # refused, DNS, TLS
            raise ClusterError(f"cannot reach the API server: {error}") from error


def _message(error: kubernetes.client.ApiException) -> str:
    try:
        return str(json.loads(str(error.body)).get("message", error.body))
    except (TypeError, ValueError):
        return str(error.body)
