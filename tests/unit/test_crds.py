"""The CRDs in crds/ are generated from the models and are structural."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator, ValidationError, validators
from modelrelease_operator.api.crdgen import all_crds, main, render
from pydantic import ValidationError as PydanticValidationError

CRDS = Path(__file__).resolve().parents[2] / "crds"


def test_committed_crds_match_the_models(tmp_path: Path) -> None:
    assert main(["--out", str(CRDS), "--check"]) == 0, "run `make crds` and commit crds/"
    for name, document in all_crds().items():
        assert (CRDS / name).read_text() == render(document)


def test_check_fails_on_a_stale_folder(tmp_path: Path) -> None:
    main(["--out", str(tmp_path)])
    victim = next(tmp_path.glob("*.yaml"))
    victim.write_text(victim.read_text().replace("Phase", "Stage"))
    assert main(["--out", str(tmp_path), "--check"]) == 1


def walk(node: dict[str, Any], path: str = "") -> list[str]:
    """Places that break the structural-schema rules."""
    problems = []
    for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "title", "$defs", "const"):
        if forbidden in node:
            problems.append(f"{path}: {forbidden}")
    if "type" not in node and not node.get("x-kubernetes-int-or-string"):
        problems.append(f"{path}: no type")
    for name, child in (node.get("properties") or {}).items():
        problems += walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        problems += walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        problems += walk(node["additionalProperties"], f"{path}{{}}")
    return problems


@pytest.mark.parametrize("name", sorted(all_crds()))
def test_crds_are_structural_v1_with_status_and_columns(name: str) -> None:
    crd = yaml.safe_load((CRDS / name).read_text())
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["spec"]["names"]["categories"] == ["modelrelease"]
    [version] = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    schema = version["schema"]["openAPIV3Schema"]
    assert walk(schema) == []
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert "Phase" in columns and columns[-1] == "Age"
    # Kopf keeps its progress under status.kopf; the schema must not prune it.
    assert schema["properties"]["status"]["properties"]["kopf"][
        "x-kubernetes-preserve-unknown-fields"
    ]


def test_training_crd_names_and_rules() -> None:
    crd = yaml.safe_load((CRDS / "modelrelease.dev_modeltrainings.yaml").read_text())
    assert crd["spec"]["names"]["shortNames"] == ["mt"]
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    messages = [rule["message"] for rule in spec["x-kubernetes-validations"]]
    assert any(m.startswith("spec.image") for m in messages)
    assert spec["properties"]["resources"]["properties"]["gpu"]["minimum"] == 0
    assert "labelColumn" in spec["properties"]["dataset"]["required"]


# --- bounds: nothing in a spec is unbounded, and the models agree with the CRDs ---------

SPEC_SCHEMAS = {
    name: yaml.safe_load((CRDS / name).read_text())["spec"]["versions"][0]["schema"][
        "openAPIV3Schema"
    ]["properties"]["spec"]
    for name in sorted(all_crds())
}


def nodes(node: dict[str, Any], path: str = "spec") -> list[tuple[str, dict[str, Any]]]:
    """Every schema node under a spec with its path (`[]`: list items, `{}`: map values)."""
    found = [(path, node)]
    for name, child in (node.get("properties") or {}).items():
        found += nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        found += nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += nodes(node["additionalProperties"], f"{path}{{}}")
    return found


def unbounded(node: dict[str, Any]) -> str | None:
    kind = node.get("type")
    if kind == "string" and "maxLength" not in node and "enum" not in node:
        return "a string without maxLength"
    if kind == "array" and "maxItems" not in node:
        return "a list without maxItems"
    is_map = "additionalProperties" in node or node.get("x-kubernetes-preserve-unknown-fields")
    if kind == "object" and is_map and "maxProperties" not in node:
        return "a map without maxProperties"
    return None


@pytest.mark.parametrize("name", sorted(SPEC_SCHEMAS))
def test_every_string_list_and_map_of_a_spec_is_bounded(name: str) -> None:
    problems = [
        f"{path}: {problem}"
        for path, node in nodes(SPEC_SCHEMAS[name])
        if (problem := unbounded(node)) is not None
    ]
    assert problems == []


DURATION_NODES = [
    (path, node)
    for name in sorted(SPEC_SCHEMAS)
    for path, node in nodes(SPEC_SCHEMAS[name])
    if "(ms|s|m|h)" in node.get("pattern", "")
]


def test_every_duration_field_has_a_range_that_names_it() -> None:
    assert {path for path, _ in DURATION_NODES} == {
        "spec.stages[].duration",
        "spec.analysis.interval",
        "spec.readinessDeadline",
        "spec.monitoring.interval",
        "spec.monitoring.window",
        "spec.retraining.backoff",
    }
    for path, node in DURATION_NODES:
        [rule] = node["x-kubernetes-validations"]
        assert rule["message"].startswith(path + ": must be a duration from")
        assert node["maxLength"] <= 20


def duration_rule_admits(rule: str, text: str) -> bool:
    """Evaluate a duration field's CEL rule, read from the CRD, as CEL would: its form
    patterns with RE2's full-match semantics and its bounds with Go's durations."""
    from modelrelease_operator.release.durations import duration_nanoseconds

    loose, strict = re.findall(r"matches\('\^(.*?)\$'\)", rule)
    low, high = re.findall(r"duration\('([^']+)'\)", rule)
    if re.fullmatch(loose, text) is None:
        return True
    if re.fullmatch(strict, text) is None:
        return False
    return duration_nanoseconds(low) <= duration_nanoseconds(text) <= duration_nanoseconds(high)


def _re2_pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """`pattern` as the API server (Go's RE2) reads it: `$` is the end of the text."""
    anchored = pattern.removesuffix("$") + r"\Z" if pattern.endswith("$") else pattern
    if isinstance(instance, str) and not re.search(anchored, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


OpenApi = validators.extend(Draft4Validator, {"pattern": _re2_pattern})


def crd_admits(node: dict[str, Any], value: Any) -> bool:
    """The OpenAPI part of the API server's admission, plus a duration field's rule."""
    if not OpenApi(node).is_valid(value):
        return False
    rules = [r["rule"] for r in node.get("x-kubernetes-validations", [])]
    return all(duration_rule_admits(rule, value) for rule in rules if "duration(" in rule)


RELEASE_FULL: dict[str, Any] = {
    "modelName": "loan-default",
    "stable": {"artifactUri": "s3://models/v1", "digest": "a" * 64, "version": "v1"},
    "candidate": {
        "fromTrainings": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}
    },
    "serving": {
        "image": "server:1",
        "env": [{"name": "OMP_NUM_THREADS", "value": "1"}],
        "serviceAccountName": "serving",
        "credentialsSecret": "store",
        "readinessProbe": {"path": "/ready"},
        "resources": {"cpu": "1"},
    },
    "router": {
        "type": "gateway-api",
        "gatewayApi": {
            "parentRefs": [{"name": "gw", "namespace": "infra", "sectionName": "http"}],
            "hostnames": ["models.example.com"],
        },
    },
    "stages": [{"weight": 100, "duration": "1m"}],
    "analysis": {
        "interval": "15s",
        "provider": {"type": "prometheus", "prometheus": {"address": "http://prometheus:9090"}},
        "gates": {"custom": [{"name": "up", "query": "up", "min": 1}]},
    },
    "readinessDeadline": "10m",
    "monitoring": {"interval": "1m", "window": "10m", "gates": {"errorRate": {"max": 0.01}}},
    "retraining": {
        "template": {"spec": {}},
        "triggers": {"schedule": {"cron": "0 3 * * 1", "timeZone": "Europe/Berlin"}},
        "backoff": "1h",
    },
}
TRAINING_FULL: dict[str, Any] = {
    "modelName": "loan-default",
    "version": "v1",
    "task": "binary",
    "image": "trainer:1",
    "dataset": {"uri": "s3://data/x.csv", "labelColumn": "default", "featureColumns": ["a"]},
    "resources": {"cpu": "1"},
    "priorityClassName": "batch",
    "serviceAccountName": "trainer",
    "tolerations": [{"key": "k", "operator": "Equal", "value": "v"}],
    "artifacts": {"uri": "s3://models/m", "credentialsSecret": "store"},
    "qualityGate": {"mustBeat": {"release": "loan-default"}},
}
#: Fields whose bounds the CRD states in OpenAPI (lengths, patterns) or in a duration rule:
#: whatever value one of them takes, the model and the CRD must say the same.
LEAVES = {
    "modelrelease.dev_modelreleases.yaml": [
        "modelName",
        "stable.artifactUri",
        "stable.digest",
        "stable.version",
        "candidate.fromTrainings.matchExpressions[0].values[0]",
        "serving.image",
        "serving.env[0].value",
        "serving.serviceAccountName",
        "serving.credentialsSecret",
        "serving.readinessProbe.path",
        "serving.resources.cpu",
        "router.gatewayApi.parentRefs[0].name",
        "router.gatewayApi.parentRefs[0].namespace",
        "router.gatewayApi.parentRefs[0].sectionName",
        "router.gatewayApi.hostnames[0]",
        "stages[0].duration",
        "analysis.interval",
        "analysis.provider.prometheus.address",
        "analysis.gates.custom[0].name",
        "analysis.gates.custom[0].query",
        "readinessDeadline",
        "monitoring.interval",
        "monitoring.window",
        "retraining.triggers.schedule.cron",
        "retraining.triggers.schedule.timeZone",
        "retraining.backoff",
    ],
    "modelrelease.dev_modeltrainings.yaml": [
        "modelName",
        "version",
        "image",
        "dataset.uri",
        "dataset.labelColumn",
        "dataset.featureColumns[0]",
        "resources.cpu",
        "priorityClassName",
        "serviceAccountName",
        "tolerations[0].value",
        "artifacts.credentialsSecret",
        "qualityGate.mustBeat.release",
    ],
}
FULL = {"modelrelease.dev_modelreleases.yaml": RELEASE_FULL}
FULL["modelrelease.dev_modeltrainings.yaml"] = TRAINING_FULL


def steps(leaf: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", leaf)]


def schema_at(name: str, leaf: str) -> dict[str, Any]:
    node = SPEC_SCHEMAS[name]
    for step in steps(leaf):
        node = node["items"] if isinstance(step, int) else node["properties"][step]
    return node


def with_leaf(name: str, leaf: str, value: Any) -> dict[str, Any]:
    spec = copy.deepcopy(FULL[name])
    *parents, last = steps(leaf)
    holder: Any = spec
    for step in parents:
        holder = holder[step]
    holder[last] = value
    return spec


def go_duration(nanoseconds: int) -> str:
    """A duration string of the CRD's form for a whole number of milliseconds."""
    hours, rest = divmod(nanoseconds, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    return f"{hours}h{minutes}m{rest / 10**9:.3f}s"


def near_bounds(rule: str) -> list[str]:
    """The bounds of a duration rule, and a millisecond inside and outside each."""
    from modelrelease_operator.release.durations import duration_nanoseconds

    found = []
    for bound in re.findall(r"duration\('([^']+)'\)", rule):
        ns = duration_nanoseconds(bound)
        found += [bound, go_duration(ns - 10**6), go_duration(ns + 10**6)]
    return found


def values_for(node: dict[str, Any]) -> st.SearchStrategy[str]:
    """Strings near the node's bounds: its pattern's own, padded about to maxLength,
    durations of every size and about each end of a duration's range, and anything."""
    limit = node.get("maxLength", 64)
    padded = st.tuples(st.text(alphabet="a0.-_/:", max_size=3), st.integers(limit - 2, limit + 2))
    candidates = [
        st.text(max_size=12),
        padded.map(lambda pair: (pair[0] + "a" * pair[1])[: pair[1]]),
    ]
    if "pattern" in node:
        candidates.append(st.from_regex(node["pattern"], fullmatch=True))
    for rule in node.get("x-kubernetes-validations", []):
        if "duration(" in rule["rule"]:
            number = st.one_of(st.integers(0, 10**16).map(str), st.sampled_from(["0.5", "1.25"]))
            part = st.tuples(number, st.sampled_from(["ms", "s", "m", "h"])).map("".join)
            candidates.append(st.lists(part, min_size=1, max_size=3).map("".join))
            candidates.append(st.sampled_from(near_bounds(rule["rule"])))
    return st.one_of(candidates)


CASES = [(name, leaf) for name, leaves in LEAVES.items() for leaf in leaves]


def test_the_full_specs_are_valid() -> None:
    from modelrelease_operator.api.release import ModelReleaseSpec
    from modelrelease_operator.api.training import ModelTrainingSpec

    ModelReleaseSpec.model_validate(RELEASE_FULL)
    ModelTrainingSpec.model_validate(TRAINING_FULL)
    for name, leaf in CASES:
        assert schema_at(name, leaf)["type"] == "string", leaf


@pytest.mark.parametrize(("name", "leaf"), CASES)
@settings(max_examples=40, deadline=None, database=None)
@given(data=st.data())
def test_models_and_crds_agree_on_every_bounded_field(
    name: str, leaf: str, data: st.DataObject
) -> None:
    from modelrelease_operator.api.release import ModelReleaseSpec
    from modelrelease_operator.api.training import ModelTrainingSpec

    models = {
        "modelrelease.dev_modelreleases.yaml": ModelReleaseSpec,
        "modelrelease.dev_modeltrainings.yaml": ModelTrainingSpec,
    }
    node = schema_at(name, leaf)
    value = data.draw(values_for(node), label="value")
    try:
        models[name].model_validate(with_leaf(name, leaf, value))
        model_admits = True
    except PydanticValidationError:
        model_admits = False
    assert model_admits == crd_admits(node, value), (leaf, value)
