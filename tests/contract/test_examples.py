"""Every example in manifests/examples/ fits the CRD schemas (and core kinds their own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "manifests" / "examples").glob("*.yaml"))


def crd_schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for path in (REPO / "crds").glob("modelrelease.dev_*.yaml"):
        crd = yaml.safe_load(path.read_text())
        schemas[crd["spec"]["names"]["kind"]] = crd["spec"]["versions"][0]["schema"][
            "openAPIV3Schema"
        ]
    return schemas


def documents() -> list[Any]:
    found = []
    for path in EXAMPLES:
        for index, document in enumerate(yaml.safe_load_all(path.read_text())):
            if document:
                found.append(pytest.param(document, id=f"{path.name}#{index}"))
    return found


@pytest.mark.parametrize("document", documents())
def test_example_is_valid(document: dict[str, Any]) -> None:
    schemas = crd_schemas()
    if document["apiVersion"].startswith("modelrelease.dev/"):
        # OpenAPI v3.0's boolean exclusive bounds are Draft 4's.
        jsonschema.Draft4Validator(schemas[document["kind"]]).validate(document)
    else:
        kubernetes_validate.validate(document, "1.36.0", strict=True)


def test_there_are_examples_of_each_kind() -> None:
    kinds = {d.values[0]["kind"] for d in documents()}
    assert {"ModelTraining", "ModelRelease"} <= kinds


def test_manifests_are_valid_core_objects() -> None:
    for name in ("namespace.yaml", "rbac.yaml", "operator.yaml"):
        for document in yaml.safe_load_all((REPO / "manifests" / name).read_text()):
            kubernetes_validate.validate(document, "1.36.0", strict=True)
