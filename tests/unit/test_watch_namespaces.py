"""The namespaced mode's setting (MODELRELEASE_WATCH_NAMESPACES): exact names only; Kopf
must be run with the same `--namespace`s (or `--all-namespaces` without it); the
training resync lists only those namespaces. tests/integration/test_namespaced.py runs
it on the control plane with the namespaced install's RBAC."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any

import kopf
import kubernetes
import pytest
from modelrelease_operator import main
from modelrelease_operator.config import from_environment
from modelrelease_operator.handlers import training


def test_unset_or_empty_watches_every_namespace() -> None:
    assert from_environment({}).watch_namespaces == ()
    assert from_environment({"MODELRELEASE_WATCH_NAMESPACES": " , "}).watch_namespaces == ()


def test_a_comma_separated_list_in_order_without_repeats() -> None:
    config = from_environment({"MODELRELEASE_WATCH_NAMESPACES": "team-b, team-a,team-b"})
    assert config.watch_namespaces == ("team-b", "team-a")


@pytest.mark.parametrize("value", ["team-*", "!kube-system", "Team-A", "a_b", "x" * 64])
def test_patterns_and_invalid_names_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="MODELRELEASE_WATCH_NAMESPACES"):
        from_environment({"MODELRELEASE_WATCH_NAMESPACES": f"ok,{value}"})


@pytest.mark.parametrize(
    ("watched", "clusterwide", "namespaces"),
    [((), True, ()), (("a", "b"), False, ("b", "a")), (("a",), False, ("a", "a"))],
)
def test_the_same_scope_is_accepted(
    watched: tuple[str, ...], clusterwide: bool, namespaces: tuple[str, ...]
) -> None:
    assert main.kopf_scope_problem(watched, clusterwide, namespaces) is None


@pytest.mark.parametrize(
    ("watched", "clusterwide", "namespaces", "says"),
    [
        (("a",), True, (), "run kopf run --namespace=a"),
        ((), False, ("a",), "run kopf run --all-namespaces"),
        (("a", "b"), False, ("a",), "--namespace=a --namespace=b"),
        (("a",), False, ("a,b",), "no patterns"),
        (("a",), False, ("a-*",), "kopf run --namespace=a-* does not watch"),
    ],
)
def test_another_scope_is_refused_saying_what_to_run(
    watched: tuple[str, ...], clusterwide: bool, namespaces: tuple[str, ...], says: str
) -> None:
    problem = main.kopf_scope_problem(watched, clusterwide, namespaces)
    assert problem is not None and says in problem, problem


def test_kopf_run_with_another_scope_stops_before_it_connects() -> None:
    """A usage error from `kopf run` itself, before it logs in anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "KOPF_"))}
    env |= {"MODELRELEASE_WATCH_NAMESPACES": "team-a", "KUBECONFIG": os.devnull}
    done = subprocess.run(
        [sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces",
         "-m", "modelrelease_operator.main"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "run kopf run --namespace=team-a" in done.stderr, done.stderr


class Listings:
    """kube.custom() for the resync: records what it lists."""

    def __init__(self, by_namespace: dict[str, list[dict[str, Any]]]) -> None:
        self.by_namespace = by_namespace
        self.calls: list[str] = []

    def list_cluster_custom_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("*")
        return {"items": [i for items in self.by_namespace.values() for i in items]}

    def list_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str
    ) -> dict[str, Any]:
        self.calls.append(namespace)
        if namespace not in self.by_namespace:
            raise kubernetes.client.ApiException(status=403, reason="Forbidden")
        return {"items": self.by_namespace[namespace]}


def item(namespace: str, name: str) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name}, "status": {}}


def test_the_resync_lists_only_the_watched_namespaces(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    listings = Listings({"team-a": [item("team-a", "t1")], "other": [item("other", "t2")]})
    reconciled: list[tuple[str, str]] = []
    monkeypatch.setattr(training.kube, "custom", lambda: listings)
    monkeypatch.setattr(training.leader, "acting", lambda: True)
    monkeypatch.setattr(
        training, "reconcile", lambda ns, name, logger: reconciled.append((ns, name))
    )
    watched = from_environment({"MODELRELEASE_WATCH_NAMESPACES": "team-a,team-b"})
    monkeypatch.setattr(training, "CONFIG", watched)
    with caplog.at_level(logging.WARNING):
        training.resync_trainings(logging.getLogger("test"))
    assert listings.calls == ["team-a", "team-b"]
    assert reconciled == [("team-a", "t1")]
    assert "team-b: cannot list trainings: 403 Forbidden" in caplog.text

    listings.calls.clear()
    reconciled.clear()
    monkeypatch.setattr(training, "CONFIG", from_environment({}))
    training.resync_trainings(logging.getLogger("test"))
    assert listings.calls == ["*"]
    assert reconciled == [("team-a", "t1"), ("other", "t2")]


class Served:
    """kube.custom() for the startup check: the CRDs served, or not yet (404)."""

    def __init__(self, served: bool) -> None:
        self.served = served
        self.listed: list[tuple[str, str]] = []

    def list_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, **_: Any
    ) -> dict[str, Any]:
        self.listed.append((namespace, plural))
        if not self.served:
            raise kubernetes.client.ApiException(status=404, reason="Not Found")
        return {"items": []}


def watching(clusterwide: bool) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.peering.clusterwide = clusterwide
    return settings


def test_namespaced_turns_kopfs_scanning_off_once_the_crds_are_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kopf's scanning lists namespaces and CRDs cluster-wide; off, it finds the
    resources once, at start, so the startup waits until they are served."""
    logger = logging.getLogger("test")
    monkeypatch.setattr(main, "CONFIG", from_environment({"MODELRELEASE_WATCH_NAMESPACES": "a,b"}))
    api = Served(False)
    monkeypatch.setattr(main.kube, "custom", lambda: api)
    settings = watching(clusterwide=False)
    with pytest.raises(
        kopf.TemporaryError, match=r"modeltrainings\.modelrelease\.dev is not served"
    ):
        main.watch_scope(settings=settings, logger=logger)
    api.served = True
    main.watch_scope(settings=settings, logger=logger)
    assert settings.scanning.disabled
    assert api.listed[-2:] == [("a", "modeltrainings"), ("a", "modelreleases")]
    with pytest.raises(kopf.PermanentError, match="Kopf watches every namespace"):
        main.watch_scope(settings=watching(clusterwide=True), logger=logger)


def test_cluster_wide_leaves_kopfs_scanning_on(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("test")
    monkeypatch.setattr(main, "CONFIG", from_environment({}))
    settings = watching(clusterwide=True)
    main.watch_scope(settings=settings, logger=logger)
    assert not settings.scanning.disabled
    with pytest.raises(kopf.PermanentError, match="some namespaces"):
        main.watch_scope(settings=watching(clusterwide=False), logger=logger)
