"""ModelTraining and ModelRelease specs generated from the models' own schema, valid and
invalid mixed, applied to the real API server with the operator running.

How the specs are made: from a known-good spec, one or two places are rewritten. A place
is any node of the structural schema that `make crds` writes from the pydantic models
(crdgen.model_schema); its new value is drawn from that node (a value its type, bounds,
pattern and enum allow), or breaks one of its bounds (one character, item or unit past
its maxLength, maxItems, maxProperties, maximum or minimum, a value off its pattern or
enum), or is one of the values the hardening is about (durations at and past each end
of their range and absurd ones, serving.env names the operator sets, in any case, and
pvc:// paths with '..'). The CEL rules are not modelled: what breaks one is refused by
the API server, which is what is checked.

What is checked, for every spec:
- the API server and the model (what the operator parses the object with) give the same
  verdict: the operator never meets an object it cannot read, and the checks the
  operator makes before creating an object (a retraining's template) say what admission
  will say;
- a refusal is a 422 whose message names the field by its `spec.` path, as does every
  cause that names a field.
And for what was admitted, after the run:
- each object gets a status message or an Event from the operator within a minute
  (not nothing: a training's status says its phase and why; a release's says what it
  waits for, or an `InvalidSpec` Event says why it is not acted on);
- the operator's log has no Traceback from the run, and the operator is alive;
- a known-good object created afterwards, with all the admitted ones still there, is
  reconciled (status written, its Deployment or Job created) about as fast as the one
  created before the run (within 30 s more).

Network addresses are drawn from fast-failing ones (127.0.0.1:9): an address that hangs
would slow the operator's single tick loop for every release (a separate finding), and
serving replicas are kept at one or two so that the kwok pods stay few.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import time
from collections.abc import Callable
from typing import Any

import kubernetes
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from modelrelease_operator.api.crdgen import model_schema
from modelrelease_operator.api.release import RESERVED_SERVING_ENV, ModelReleaseSpec
from modelrelease_operator.api.training import ModelTrainingSpec
from modelrelease_operator.labels import RELEASE_LABEL
from pydantic import BaseModel, ValidationError

from .running_operator import OperatorProcess
from .trainings import Trainings, artifact_store, cpu_training
from .waiting import Waiter

GROUP, VERSION = "modelrelease.dev", "v1alpha1"
#: Per kind; each is one create against the API server. FUZZ_EXAMPLES=500 searches longer.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
#: FUZZ_DUMP=FILE appends every admitted spec to FILE (JSON lines).
DUMP = os.environ.get("FUZZ_DUMP")
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each step is an API call
    suppress_health_check=list(HealthCheck),
)

Path = tuple[str | int, ...]
Json = Any

# --- values drawn from a schema node ---------------------------------------------------

SHORT = 12  # valid strings stay short; lengths at a bound come from `broken`
#: Any character a Kubernetes string can hold, beyond the BMP too (emoji in env values
#: once stalled every apply: test_characters_beyond_the_bmp_reach_the_cluster).
BMP = st.characters(exclude_categories=["Cs"])


def text(*, min_size: int = 0, max_size: int | None = None) -> st.SearchStrategy[str]:
    return st.text(BMP, min_size=min_size, max_size=max_size)


def from_regex(pattern: str, *, fullmatch: bool) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=fullmatch, alphabet=BMP)


scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**31), 2**31),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    text(max_size=SHORT),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
label_keys = st.one_of(
    from_regex(
        r"[a-z]([-a-z0-9]{0,8}[a-z])?(\.[a-z]{2,5})?/[A-Za-z][-A-Za-z0-9_.]{0,8}", fullmatch=True
    ),
    from_regex(r"[A-Za-z][-A-Za-z0-9_.]{0,10}[A-Za-z0-9]", fullmatch=True),
    text(max_size=8),  # mostly not a qualified name
)


def _dotted(path: Path) -> str:
    """("stages", 0, "duration") → "spec.stages[].duration", as VALID and TARGETED name it."""
    steps = ("[]" if isinstance(step, int) else step for step in path)
    return "spec." + ".".join(steps).replace(".[]", "[]")


def valid(node: dict[str, Any], path: Path) -> st.SearchStrategy[Json]:
    """A value within the node's type, bounds, pattern and enum (CEL aside)."""
    special = VALID.get(_dotted(path))
    if special is not None:
        return special
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if node.get("x-kubernetes-preserve-unknown-fields") and not node.get("properties"):
        return st.dictionaries(
            text(min_size=1, max_size=8),
            json_values,
            max_size=min(3, node.get("maxProperties", 3)),
        )
    if kind == "string":
        longest = min(node.get("maxLength", SHORT), SHORT)
        if "pattern" in node:
            return from_regex(node["pattern"], fullmatch=True).filter(
                lambda value: len(value) <= node.get("maxLength", 10**6)
            )
        return text(min_size=node.get("minLength", 0), max_size=max(longest, 0))
    if kind == "integer":
        low = node.get("minimum", -(2**31))
        high = node.get("maximum", 2**31)
        if node.get("exclusiveMinimum"):
            low += 1
        if node.get("exclusiveMaximum"):
            high -= 1
        return st.integers(low, high)
    if kind == "number":
        return st.floats(
            node.get("minimum", -1e9),
            node.get("maximum", 1e9),
            exclude_min=bool(node.get("exclusiveMinimum")),
            exclude_max=bool(node.get("exclusiveMaximum")),
            allow_nan=False,
            allow_infinity=False,
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(
            valid(node["items"], (*path, 0)),
            min_size=node.get("minItems", 0),
            max_size=min(node.get("maxItems", 3), 3),
        )
    if kind == "object":
        properties = node.get("properties") or {}
        if properties:
            required = set(node.get("required", []))
            return st.fixed_dictionaries(
                {k: valid(v, (*path, k)) for k, v in properties.items() if k in required},
                optional={
                    k: valid(v, (*path, k)) for k, v in properties.items() if k not in required
                },
            )
        values = node.get("additionalProperties")
        if isinstance(values, dict):
            return st.dictionaries(
                label_keys,
                valid(values, (*path, "{}")),
                max_size=min(node.get("maxProperties", 3), 3),
            )
        return st.just({})
    raise AssertionError(f"no strategy for {node}")


def _too_many(node: dict[str, Any], path: Path, count: int) -> st.SearchStrategy[Json]:
    if node.get("type") == "array":
        return valid(node["items"], (*path, 0)).map(lambda item: [item] * count)
    values = node.get("additionalProperties")
    value = valid(values, (*path, "{}")) if isinstance(values, dict) else st.just(1)
    return value.map(lambda v: {f"k{i}": v for i in range(count)})


def broken(node: dict[str, Any], path: Path) -> st.SearchStrategy[Json] | None:
    """A value of the node's type just past one of its bounds; None if it has none."""
    options: list[st.SearchStrategy[Json]] = []
    kind = node.get("type")
    if kind == "string":
        if "maxLength" in node:
            limit = node["maxLength"]
            options.append(
                st.tuples(valid(node, path), st.sampled_from("a/.-Z0")).map(
                    lambda pair: (pair[0] + pair[1] * (limit + 1))[: limit + 1]
                )
            )
        if node.get("minLength", 0) > 0:
            options.append(st.just(""))
        if "pattern" in node or "enum" in node:
            options.append(text(max_size=SHORT))
    elif kind in ("integer", "number"):
        step = 1 if kind == "integer" else 0.5
        if "maximum" in node:
            options.append(st.just(node["maximum"] + (0 if node.get("exclusiveMaximum") else step)))
        if "minimum" in node:
            options.append(st.just(node["minimum"] - (0 if node.get("exclusiveMinimum") else step)))
    elif kind == "array":
        if "maxItems" in node:
            options.append(_too_many(node, path, node["maxItems"] + 1))
        if node.get("minItems", 0) > 0:
            options.append(st.just([]))
    elif kind == "object" and "maxProperties" in node:
        options.append(_too_many(node, path, node["maxProperties"] + 1))
    return st.one_of(options) if options else None


# --- the values the hardening is about -------------------------------------------------

DURATION_RANGES = {
    "spec.analysis.interval": ("1s", "1h"),
    "spec.stages[].duration": ("1s", "168h"),
    "spec.readinessDeadline": ("1s", "24h"),
    "spec.monitoring.interval": ("1s", "1h"),
    "spec.monitoring.window": ("1s", "720h"),
    "spec.retraining.backoff": ("1m", "720h"),
}


def durations(low: str, high: str) -> st.SearchStrategy[str]:
    edges = [low, high, f"{high}1ms", "0s", "500ms", "59s", "59m60s", "1.5m", "30m", "169h"]
    absurd = ["100000000000000s", "99999999h", "1d", "", "1h1", "-1s", "2562047h47m16.854775808s"]
    return st.sampled_from([*edges, *absurd])


def env_names() -> st.SearchStrategy[str]:
    reserved = st.sampled_from(RESERVED_SERVING_ENV).flatmap(
        lambda name: st.sampled_from([name, name.lower(), name.title()])
    )
    return st.one_of(reserved, st.sampled_from(["MODELRELEASE_SERVER_WORKERS", "LOG_LEVEL"]))


PVC = st.sampled_from(
    [
        *("pvc://store/models/v2", "pvc://store/../other", "pvc://store/a/../../etc"),
        *("pvc://store/..", "pvc://store/a..b/v2", "pvc://Store/x", "pvc://"),
    ]
)
ARTIFACTS = st.one_of(
    PVC,
    st.sampled_from(
        [
            *("s3://models/fuzz/v2", "gs://b/m", "az://c/m", "http://127.0.0.1:9/m"),
            *("/models/v2", "file:///nonexistent/m"),
        ]
    ),
)
ADDRESSES = st.sampled_from(["http://127.0.0.1:9", "https://127.0.0.1:9/prometheus"])
#: Requests that either fit many times on kwok's nodes or on none: the run must not fill
#: them (the known-good object afterwards has to be scheduled).
CPU = st.sampled_from(["1m", "5m", "10m", "0.025", "100000", "99999999999999999999999999.5Ti"])
MEMORY = st.sampled_from(["1Mi", "4Mi", "16Mi", "64M", "100000Ti", "9" * 31 + "k"])
QUANTITIES = {
    f"{prefix}.{field}": values
    for prefix in ("spec.serving.resources", "spec.resources")
    for field, values in (
        ("cpu", CPU),
        ("cpuLimit", CPU),
        ("memory", MEMORY),
        ("memoryLimit", MEMORY),
    )
}

#: Valid values drawn otherwise than from the node: fast-failing addresses, few replicas.
VALID: dict[str, st.SearchStrategy[Json]] = {
    "spec.stable.artifactUri": ARTIFACTS,
    "spec.candidate.artifactUri": ARTIFACTS,
    "spec.analysis.provider.prometheus.address": ADDRESSES,
    "spec.analysis.provider.prometheus.timeoutSeconds": st.sampled_from([0.5, 1, 2]),
    "spec.serving.replicas": st.integers(1, 2),
    **QUANTITIES,
}
#: What each place may also get: the edge and absurd values of the hardening.
TARGETED: dict[str, st.SearchStrategy[Json]] = {
    **{path: durations(*bounds) for path, bounds in DURATION_RANGES.items()},
    "spec.serving.env[].name": env_names(),
    "spec.serving.env": st.lists(
        st.fixed_dictionaries({"name": env_names(), "value": text(max_size=4)}),
        min_size=1,
        max_size=3,
    ),
    "spec.stable.artifactUri": PVC,
    "spec.candidate.artifactUri": PVC,
    "spec.artifacts.uri": PVC,
}


# --- specs: a known-good one with a few places rewritten -------------------------------


def places(node: dict[str, Any], path: Path = ()) -> list[tuple[Path, dict[str, Any]]]:
    """Every node below a spec that a value can be written to (map values excepted: the
    whole map is drawn instead)."""
    found = [(path, node)] if path else []
    for name, child in (node.get("properties") or {}).items():
        found += places(child, (*path, name))
    if isinstance(node.get("items"), dict):
        found += places(node["items"], (*path, 0))
    return found


def write(spec: dict[str, Any], path: Path, value: Json) -> None:
    holder: Any = spec
    for step, following in itertools.pairwise(path):
        fresh: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            if not holder:
                holder.append(fresh)
            holder = holder[0]
        else:
            if not isinstance(holder.get(step), type(fresh)):
                holder[step] = fresh
            holder = holder[step]
    last = path[-1]
    if isinstance(last, int):
        holder[:1] = [value]
    else:
        holder[last] = value


def specs(model: type[BaseModel], base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    schema = model_schema(model)
    where = places(schema)

    @st.composite
    def rewritten(draw: st.DrawFn) -> dict[str, Any]:
        spec = copy.deepcopy(base)
        for _ in range(draw(st.integers(1, 2), label="places")):
            path, node = draw(st.sampled_from(where), label="place")
            dotted = _dotted(path)
            choices = [valid(node, path)] * 2
            if (bad := broken(node, path)) is not None:
                choices.append(bad)
            if dotted in TARGETED:
                choices += [TARGETED[dotted]] * 2
            write(spec, path, draw(st.one_of(choices), label=dotted))
        return spec

    return rewritten()


# --- the run ---------------------------------------------------------------------------


def names_the_field(body: str) -> bool:
    """A 422's Status says which `spec.` field, in its message and in every cause that
    names a field."""
    status = json.loads(body)
    causes = (status.get("details") or {}).get("causes") or []
    fields = [c["field"] for c in causes if c.get("field") and c["field"] != "<nil>"]
    return "spec." in status.get("message", "") and all(f.startswith("spec") for f in fields)


def model_verdict(model: type[BaseModel], spec: dict[str, Any]) -> str | None:
    """None when the model admits the spec, else why not."""
    try:
        model.model_validate(spec)
    except ValidationError as error:
        return str(error)
    return None


class Run:
    """What one fuzz run applied and what became of it."""

    def __init__(
        self, api: kubernetes.client.ApiClient, namespace: str, kind: str, plural: str
    ) -> None:
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.core = kubernetes.client.CoreV1Api(api)
        self.namespace = namespace
        self.kind = kind
        self.plural = plural
        self.names = (f"fuzz-{kind.lower()}-{i}" for i in itertools.count())
        self.admitted: list[str] = []
        self.refused = 0

    def apply(self, model: type[BaseModel], spec: dict[str, Any]) -> None:
        name = next(self.names)
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": self.kind,
            "metadata": {"name": name},
            "spec": spec,
        }
        why_not = model_verdict(model, spec)
        shown = json.dumps(spec)[:3000]
        try:
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, self.plural, body
            )
        except kubernetes.client.ApiException as error:
            assert error.status == 422, f"{error.status} {error.reason}: {error.body}\n{shown}"
            assert names_the_field(error.body), f"no spec. field named: {error.body}\n{shown}"
            assert why_not is not None, (
                f"the API server refused what the model admits:\n{error.body}\n{shown}"
            )
            self.refused += 1
            return
        assert why_not is None, f"admitted what the model refuses:\n{why_not}\n{shown}"
        self.admitted.append(name)
        if DUMP:  # to replay what a long search admitted
            with open(DUMP, "a") as out:
                out.write(json.dumps({"namespace": self.namespace, "name": name, "spec": spec}))
                out.write("\n")

    def answered(self) -> list[str]:
        """Admitted objects with neither a status message nor an Event yet."""
        listed = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, self.plural
        )
        with_status = {
            item["metadata"]["name"]
            for item in listed["items"]
            if (item.get("status") or {}).get("message")
        }
        events = self.core.list_namespaced_event(self.namespace).items
        with_event = {e.involved_object.name for e in events if e.involved_object.kind == self.kind}
        return [n for n in self.admitted if n not in with_status | with_event]


def timed(check: Callable[[], Any], wait: Waiter, what: str, timeout: float = 120) -> float:
    started = time.monotonic()
    wait.until(check, what=what, timeout=timeout)
    return time.monotonic() - started


def settle(run: Run, wait: Waiter, operator: OperatorProcess, log_from: int) -> None:
    """Every admitted object answered; no Traceback; the operator alive."""
    silent: list[str] = []

    def all_answered() -> bool:
        silent[:] = run.answered()
        return not silent

    wait.until(all_answered, what=f"a status message or Event for {silent}", timeout=90)
    log = operator.text()[log_from:]
    crashes = tracebacks(log, run.namespace)
    assert not crashes, "\n".join(crashes)[:8000]
    refused = refused_writes(log, run.namespace)
    assert not refused, "\n".join(refused)[:8000]
    assert operator.alive(), operator.tail()


def refused_writes(log: str, namespace: str) -> list[str]:
    """The operator's warnings that the API server refused what it wrote for an object of
    `namespace` as malformed or invalid (400, 422) or failed on it (5xx): what it made of
    an admitted spec must be writable, or the object stalls with a warning every tick.
    (404: an HTTPRoute without the Gateway API CRDs, which this suite does not install.)"""
    pattern = re.compile(rf"{re.escape(namespace)}/\S+: (400|422|5\d\d) ")
    return sorted({line for line in log.splitlines() if pattern.search(line)})


def tracebacks(log: str, namespace: str) -> list[str]:
    """The log entries about objects of `namespace` that carry a Traceback. (Kopf starts
    each entry with its time and names the object in it; the session's operator also
    serves the other tests' namespaces, which are being deleted meanwhile.)"""
    entries = re.split(r"\n(?=\[\d{4}-\d\d-\d\d )", log)
    return [e for e in entries if "Traceback" in e and namespace in e]


def report(run: Run, before: float, after: float) -> str:
    return (
        f"{run.kind}: {len(run.admitted)} admitted, {run.refused} refused; a known-good one "
        f"reconciled in {before:.1f}s before the run, {after:.1f}s after"
    )


SMALL = {"cpu": "10m", "memory": "16Mi"}
RELEASE_BASE: dict[str, Any] = {
    "modelName": "fuzz",
    "stable": {"artifactUri": "s3://models/fuzz/v1", "digest": "a" * 64, "version": "v1"},
    "candidate": {"training": "fuzz-missing"},
    "serving": {"replicas": 1, "resources": SMALL},
}


def known_good_release(name: str) -> dict[str, Any]:
    """A stable and nothing to roll out: Succeeded once its Deployment is ready."""
    spec = {k: v for k, v in RELEASE_BASE.items() if k != "candidate"}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRelease",
        "metadata": {"name": name},
        "spec": {**spec, "modelName": "good"},
    }


def test_fuzzed_releases_are_refused_by_field_or_handled(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    operator: OperatorProcess,
) -> None:
    run = Run(kube_api, namespace, "ModelRelease", "modelreleases")
    log_from = len(operator.text())

    apps = kubernetes.client.AppsV1Api(kube_api)

    def reconciled(name: str) -> Callable[[], bool]:
        """Its status written and its stable's Deployment applied: the operator's part
        (whether kwok's nodes have room left for its pod is the cluster's)."""

        def check() -> bool:
            found = run.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, "modelreleases", name
            )
            deployed = apps.list_namespaced_deployment(
                namespace, label_selector=f"{RELEASE_LABEL}={name}"
            ).items
            return bool((found.get("status") or {}).get("message")) and bool(deployed)

        return check

    def good(name: str) -> float:
        body = known_good_release(name)
        run.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "modelreleases", body)
        return timed(reconciled(name), wait, f"known-good release {name} reconciled")

    before = good("known-good-before")

    @FUZZ_SETTINGS
    @given(spec=specs(ModelReleaseSpec, RELEASE_BASE))
    @example(spec={**RELEASE_BASE, "analysis": {"interval": "100000000000000s"}})
    @example(spec={**RELEASE_BASE, "analysis": {"interval": "0s"}})
    @example(spec={**RELEASE_BASE, "serving": {"env": [{"name": RESERVED_SERVING_ENV[1]}]}})
    @example(spec={**RELEASE_BASE, "serving": {"env": [{"name": "A"}, {"name": "A"}]}})
    @example(
        spec={
            **RELEASE_BASE,
            "candidate": {"artifactUri": "pvc://store/../x", "digest": "b" * 64, "version": "v2"},
        }
    )
    def fuzz(spec: dict[str, Any]) -> None:
        run.apply(ModelReleaseSpec, spec)

    fuzz()
    settle(run, wait, operator, log_from)
    after = good("known-good-after")
    print(report(run, before, after))
    assert run.admitted and run.refused, report(run, before, after)
    assert after <= before + 30, report(run, before, after)


def test_characters_beyond_the_bmp_reach_the_cluster(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    operator: OperatorProcess,
) -> None:
    custom = kubernetes.client.CustomObjectsApi(kube_api)
    apps = kubernetes.client.AppsV1Api(kube_api)
    body = known_good_release("emoji")
    body["spec"]["serving"] = {
        **body["spec"]["serving"],
        "env": [{"name": "GREETING", "value": "\U0001f600"}],
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "modelreleases", body)

    def applied_or_refused() -> str | None:
        if apps.list_namespaced_deployment(
            namespace, label_selector=f"{RELEASE_LABEL}=emoji"
        ).items:
            return "applied"
        if refused_writes(operator.text(), namespace):
            return "refused"
        return None

    assert wait.until(applied_or_refused, what="the emoji release applied or refused") == "applied"


def test_fuzzed_trainings_are_refused_by_field_or_handled(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    operator: OperatorProcess,
) -> None:
    artifact_store(kube_api, namespace)
    trainings = Trainings(kube_api, namespace, wait)
    run = Run(kube_api, namespace, "ModelTraining", "modeltrainings")
    log_from = len(operator.text())
    base = {**cpu_training("base")["spec"], "resources": SMALL}

    def good(name: str) -> float:
        manifest = cpu_training(name)
        manifest["spec"]["resources"] = SMALL
        trainings.create(manifest)
        return timed(
            lambda: trainings.status(name).get("message") and trainings.jobs(name),
            wait,
            f"known-good training {name} with its Job",
        )

    before = good("known-good-before")

    @FUZZ_SETTINGS
    @given(spec=specs(ModelTrainingSpec, base))
    @example(spec={**base, "artifacts": {"uri": "pvc://model-store/../etc"}})
    @example(spec={**base, "resources": {"cpu": "2", "cpuLimit": "1"}})
    @example(spec={**base, "resources": {"cpu": "995066070680414207.6Gi", "cpuLimit": "1"}})
    @example(spec={**base, "tolerations": [{"key": "k", "tolerationSeconds": 5}]})
    def fuzz(spec: dict[str, Any]) -> None:
        run.apply(ModelTrainingSpec, spec)

    fuzz()
    settle(run, wait, operator, log_from)
    after = good("known-good-after")
    print(report(run, before, after))
    assert run.admitted and run.refused, report(run, before, after)
    assert after <= before + 30, report(run, before, after)
