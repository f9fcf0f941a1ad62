"""The CRDs in crds/ are generated from the models and are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from modelrelease_operator.api.crdgen import all_crds, main, render

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
