"""The install and the examples fit together as a user applies them: images named by
manifests and examples are the ones `make images` builds, the operator image runs the
manifest's command, and what the examples name (trainings, Secrets, claims) exists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "manifests" / "examples"
VERSION = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M)
#: What images/build.sh tags (IMAGE_REGISTRY's default) and `make image-trainer-cuda`.
BUILT = {
    f"ghcr.io/modelrelease/{name}:{VERSION.group(1) if VERSION else '?'}"
    for name in ("operator", "trainer", "server", "trainer-cuda")
}


def example_documents() -> list[dict[str, Any]]:
    return [
        document
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in example_documents() if d["kind"] == kind}


def operator_deployment() -> dict[str, Any]:
    documents = yaml.safe_load_all((REPO / "manifests" / "operator.yaml").read_text())
    return next(d for d in documents if d["kind"] == "Deployment")


def dockerfile_cmd(path: Path) -> list[str]:
    commands = [line for line in path.read_text().splitlines() if line.startswith("CMD ")]
    parsed: list[str] = json.loads(commands[-1].removeprefix("CMD "))
    return parsed


def test_the_operator_image_runs_the_manifests_command() -> None:
    (container,) = operator_deployment()["spec"]["template"]["spec"]["containers"]
    assert "command" not in container
    assert dockerfile_cmd(REPO / "operator" / "Dockerfile") == container["args"]


def test_every_image_the_project_names_is_one_it_builds() -> None:
    (container,) = operator_deployment()["spec"]["template"]["spec"]["containers"]
    named = {container["image"]}
    named |= {t["spec"]["image"] for t in of_kind("ModelTraining").values()}
    named |= {r["spec"]["serving"]["image"] for r in of_kind("ModelRelease").values()}
    assert named <= BUILT, named - BUILT


def test_dockerfiles_take_their_base_as_a_build_argument() -> None:
    for dockerfile in ("operator", "training-image", "serving-image"):
        text = (REPO / dockerfile / "Dockerfile").read_text()
        assert "ARG BASE=python:3.11-slim-bookworm\nFROM ${BASE}\n" in text, dockerfile


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against labels."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for requirement in selector.get("matchExpressions", []):
        key, values = requirement["key"], requirement.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[requirement["operator"]]
        if not matched:
            return False
    return True


def test_releases_name_trainings_the_examples_create() -> None:
    trainings = of_kind("ModelTraining")
    for release in of_kind("ModelRelease").values():
        model = release["spec"]["modelName"]
        for side in ("stable", "candidate"):
            source = release["spec"][side]
            if "fromTrainings" in source:
                # A selector names no training: at least one example must be one it follows.
                followed = [
                    name
                    for name, training in trainings.items()
                    if training["spec"]["modelName"] == model
                    and selects(source["fromTrainings"], training["metadata"].get("labels", {}))
                ]
                assert followed, f"{side}.fromTrainings selects no example ModelTraining"
                continue
            name = source["training"]
            assert name in trainings, f"{side} {name} is no example ModelTraining"
            assert trainings[name]["spec"]["modelName"] == model


def test_secrets_and_claims_the_examples_name_exist() -> None:
    secrets, claims = of_kind("Secret"), of_kind("PersistentVolumeClaim")
    for training in of_kind("ModelTraining").values():
        artifacts = training["spec"]["artifacts"]
        if artifacts["uri"].startswith("pvc://"):
            assert artifacts["uri"].removeprefix("pvc://").split("/")[0] in claims
        else:
            assert artifacts["credentialsSecret"] in secrets
    for release in of_kind("ModelRelease").values():
        assert release["spec"]["serving"]["credentialsSecret"] in secrets
    for deployment in of_kind("Deployment").values():
        for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims


def test_the_object_store_serves_what_the_secret_points_at() -> None:
    (secret,) = of_kind("Secret").values()
    endpoint = secret["stringData"]["AWS_ENDPOINT_URL"]
    service = of_kind("Service")["model-store"]
    assert endpoint == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    (container,) = of_kind("Deployment")["model-store"]["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]


def test_no_claim_asks_for_an_access_mode_common_clusters_lack() -> None:
    for claim in of_kind("PersistentVolumeClaim").values():
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"], claim["metadata"]["name"]
        assert "storageClassName" not in claim["spec"]
