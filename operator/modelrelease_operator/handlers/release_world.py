"""Read what a ModelRelease's decision needs: its models, its pods' readiness, its metrics.

Everything here only reads; the decision is `release.decide`, the writes are in
`handlers.release`.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import kubernetes

from .. import fetch, kube, labels
from ..api import GROUP, VERSION
from ..api.release import (
    ModelRef,
    ModelReleaseSpec,
    ModelReleaseStatus,
    ModelSource,
    ScoreReference,
)
from ..api.release_status import ROLLING
from ..config import from_environment
from ..release import candidates, monitoring, promql, routing, selectors, sources
from ..release.durations import parse_duration
from ..release.observations import parse_exposition
from ..release.seen import MetricsRead, Resolution
from . import watched

log = logging.getLogger(__name__)
TRAININGS = "modeltrainings"
#: A pod proxy or Prometheus call that takes longer than this is a failed read.
READ_TIMEOUT = 5.0
CONFIG = from_environment()


def apps() -> kubernetes.client.AppsV1Api:
    return kubernetes.client.AppsV1Api(kube.api_client())


def read_reference(uri: str) -> ScoreReference | None:
    """reference.json's score histogram, where the operator can read the artifact: a local
    path, file:// or http(s):// (a bounded fetch: see `fetch`). pvc:// and object stores
    need the serving pods; None."""
    parsed = urllib.parse.urlparse(uri)
    try:
        if parsed.scheme in {"http", "https"}:
            document = json.loads(
                fetch.get(
                    uri.rstrip("/") + "/reference.json",
                    timeout=READ_TIMEOUT,
                    max_bytes=CONFIG.fetch_max_bytes,
                    allow=CONFIG.fetch_allow,
                )
            )
        elif parsed.scheme in {"", "file"}:
            path = Path(parsed.path if parsed.scheme == "file" else uri) / "reference.json"
            document = json.loads(path.read_text())
        else:
            return None
        score = document["score"]
        return ScoreReference(edges=score["edges"], counts=score["counts"])
    except (fetch.FetchError, OSError, ValueError, KeyError, TypeError) as error:
        log.info("no reference distribution at %s: %s", uri, error)
        return None


def _with_reference(ref: ModelRef, known: list[ModelRef | None]) -> ModelRef:
    """The reference already in status for this digest, else read it once."""
    if ref.reference is not None:
        return ref
    for model in known:
        if model is not None and model.digest == ref.digest and model.reference is not None:
            return ref.model_copy(update={"reference": model.reference})
    return ref.model_copy(update={"reference": read_reference(ref.uri)})


def resolve(
    source: ModelSource | None, namespace: str, status: ModelReleaseStatus
) -> Resolution | None:
    """A model source as a deployable reference, or why it is not one (yet)."""
    if source is None:
        return None
    if source.training is None:
        found = sources.from_artifact(source)
    else:
        training = kube.get_or_none(
            kube.custom().get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            TRAININGS,
            source.training,
        )
        found = sources.from_training(source, training)
    return with_reference(found, status)


def with_reference(found: Resolution | None, status: ModelReleaseStatus) -> Resolution | None:
    """A chosen model with its score reference (kept in status, or read once)."""
    if found is None or found.ref is None:
        return found
    known = [status.stable, status.candidate, status.previous]
    return Resolution(found.state, _with_reference(found.ref, known), found.message)


def trainings(source: ModelSource, namespace: str) -> list[candidates.TrainingSeen]:
    """The ModelTrainings in the namespace that spec.candidate.fromTrainings selects."""
    assert source.from_trainings is not None
    listing = kube.custom().list_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        TRAININGS,
        label_selector=selectors.selector_string(source.from_trainings),
    )
    items = cast(dict[str, Any], listing).get("items", [])
    return [candidates.seen_from_object(item) for item in items]


def retraining_seen(status: ModelReleaseStatus, namespace: str) -> tuple[str, str] | None:
    """The in-flight retraining's (phase, message); None when it does not exist."""
    current = status.retraining.current if status.retraining else None
    if current is None:
        return None
    found = kube.get_or_none(
        kube.custom().get_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        TRAININGS,
        current.name,
    )
    if found is None:
        return None
    state = found.get("status") or {}
    return str(state.get("phase") or "Pending"), str(state.get("message") or "")


def training_created(
    name: str | None, namespace: str, listed: list[candidates.TrainingSeen]
) -> datetime | None:
    """When the stable's training was created (None: not from a training, or deleted)."""
    if name is None:
        return None
    for training in listed:
        if training.name == name:
            return training.created
    found = kube.get_or_none(
        kube.custom().get_namespaced_custom_object, GROUP, VERSION, namespace, TRAININGS, name
    )
    return None if found is None else candidates.seen_from_object(found).created


def readiness(
    spec: ModelReleaseSpec, status: ModelReleaseStatus, namespace: str, name: str
) -> tuple[bool, bool]:
    """(stable ready, candidate ready) against the pod counts status asks for now."""
    found = watched.DEPLOYMENTS.of((namespace, name))
    if found is None:
        listing = apps().list_namespaced_deployment(
            namespace, label_selector=f"{labels.RELEASE_LABEL}={name}"
        )
        found = [kube.plain(d) for d in listing.items]
    by_name = {d["metadata"]["name"]: d for d in found}
    stable_count, candidate_count = routing.replicas(spec, status)

    def ready(model: ModelRef | None, count: int) -> bool:
        if model is None:
            return False
        return sources.deployment_ready(
            by_name.get(routing.deployment_name(name, model.version)), count
        )

    return ready(status.stable, stable_count), ready(status.candidate, candidate_count)


def release_pods(namespace: str, name: str) -> list[dict[str, Any]]:
    """The release's serving pods: as the watch saw them, else listed."""
    found = watched.PODS.of((namespace, name))
    if found is not None:
        return found
    pods = kube.core().list_namespaced_pod(
        namespace, label_selector=f"{labels.RELEASE_LABEL}={name}"
    )
    return [kube.plain(p) for p in pods.items]


def candidate_restarts(status: ModelReleaseStatus, namespace: str, name: str) -> int | None:
    """Container restarts summed over the candidate's pods while a rollout runs (None
    otherwise): a crash takes its counters with it, so the metrics alone miss it."""
    if status.candidate is None or status.phase not in ROLLING:
        return None
    version = labels.label_value(status.candidate.version)
    total = 0
    for pod in release_pods(namespace, name):
        if (pod["metadata"].get("labels") or {}).get(labels.VERSION_LABEL) != version:
            continue
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            total += int(container.get("restartCount") or 0)
    return total


def _scrape(spec: ModelReleaseSpec, namespace: str, name: str) -> MetricsRead:
    """Each ready serving pod's /metrics through the API server's pod proxy."""
    texts, failures = [], []
    for pod in release_pods(namespace, name):
        pod_name = pod["metadata"]["name"]
        if (pod.get("status") or {}).get("phase") != "Running":
            continue
        if pod["metadata"].get("deletionTimestamp"):
            continue
        try:
            text = kube.core().connect_get_namespaced_pod_proxy_with_path(
                f"{pod_name}:{spec.serving.port}",
                namespace,
                "metrics",
                _request_timeout=READ_TIMEOUT,
            )
            texts.append(text)
        except (kubernetes.client.ApiException, OSError) as error:
            failures.append(f"{pod_name}: {getattr(error, 'reason', error)}")
    # A pod that cannot be read makes the sums too small: say so rather than judge.
    if failures:
        return MetricsRead(error="cannot read " + "; ".join(failures)[:300])
    return MetricsRead(versions=parse_exposition(texts, spec.model_name))


def _query(address: str, query: str, timeout: float) -> Mapping[str, Any]:
    """One instant query: a bounded fetch (deadline, size cap, no redirects, allowlist)."""
    url = f"{address.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    body = fetch.get(
        url, timeout=timeout, max_bytes=CONFIG.fetch_max_bytes, allow=CONFIG.fetch_allow
    )
    answer: Mapping[str, Any] = json.loads(body)
    return answer


def _prometheus(
    spec: ModelReleaseSpec,
    status: ModelReleaseStatus,
    namespace: str,
    name: str,
    window_seconds: float,
) -> MetricsRead:
    """The release's series in Prometheus: its own pods' only (`namespace`, `release`)."""
    provider = spec.analysis.provider.prometheus
    assert provider is not None
    versions = [m.version for m in (status.stable, status.candidate) if m is not None]
    queries = promql.snapshot_queries(spec.model_name, versions, namespace=namespace, release=name)
    try:
        answers = {
            series: _query(provider.address, text, provider.timeout_seconds)
            for series, text in queries.items()
        }
        custom: dict[str, float | None] = {}
        for gate in spec.analysis.gates.custom:
            query = promql.render_custom(
                gate,
                model=spec.model_name,
                candidate=status.candidate.version if status.candidate else "",
                stable=status.stable.version if status.stable else "",
                namespace=namespace,
                release=name,
                window_seconds=window_seconds,
            )
            custom[gate.name] = promql.scalar(
                _query(provider.address, query, provider.timeout_seconds)
            )
        return MetricsRead(versions=promql.snapshots_from_answers(answers), custom=custom)
    except (fetch.FetchError, OSError, ValueError, KeyError) as error:
        return MetricsRead(error=f"prometheus: {error}"[:300])


def metrics(
    spec: ModelReleaseSpec,
    status: ModelReleaseStatus,
    namespace: str,
    name: str,
    window_seconds: float,
) -> MetricsRead | None:
    """One read of the configured provider; None when no stage is being judged and no
    monitoring check is due."""
    judging = status.phase in ROLLING and status.stage_started_at is not None
    if not judging and not monitoring.due(spec, status, datetime.now(UTC)):
        return None
    if spec.analysis.provider.type == "prometheus":
        return _prometheus(spec, status, namespace, name, window_seconds)
    return _scrape(spec, namespace, name)


def tick_seconds(spec: ModelReleaseSpec) -> float:
    """How often a release is looked at: its analysis interval, at most 5 s, so that
    readiness and commands are acted on quickly (gates still judge once per interval)."""
    return min(parse_duration(spec.analysis.interval).total_seconds(), 5.0)
