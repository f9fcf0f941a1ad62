"""charts/modelrelease carries copies of files the kustomize install owns (a packaged
chart cannot reach outside its folder): the CRDs, the alert rules, the dashboard and
Argo CD's health checks. The copies must be the originals, byte for byte, and the
chart's appVersion the product's version, which tags the operator image by default.
tests/integration/test_chart.py renders the chart with the real helm."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelrelease"
#: Chart folder → the folder its files are copied from, and which of them.
COPIES = {
    "crds": (REPO / "crds", "*.yaml"),
    "files/observability": (
        REPO / "manifests" / "observability",
        "{dashboard-modelrelease.json,prometheusrule.yaml}",
    ),
    "files/argocd": (REPO / "manifests" / "gitops" / "argocd", "*.lua"),
}


def originals(folder: Path, pattern: str) -> dict[str, bytes]:
    if pattern.startswith("{"):
        names = pattern.strip("{}").split(",")
        return {name: (folder / name).read_bytes() for name in names}
    # crds/kustomization.yaml lists the CRDs for kustomize; helm's crds/ takes every file.
    return {
        path.name: path.read_bytes()
        for path in sorted(folder.glob(pattern))
        if path.name != "kustomization.yaml"
    }


@pytest.mark.parametrize("copy", sorted(COPIES), ids=sorted(COPIES))
def test_the_charts_copies_are_the_originals(copy: str) -> None:
    folder, pattern = COPIES[copy]
    expected = originals(folder, pattern)
    found = {path.name: path.read_bytes() for path in sorted((CHART / copy).iterdir())}
    assert sorted(found) == sorted(expected), f"charts/modelrelease/{copy} lists other files"
    stale = [name for name in expected if found[name] != expected[name]]
    assert not stale, (
        f"charts/modelrelease/{copy}/{{{','.join(stale)}}} differ from {folder.relative_to(REPO)}"
        f": copy them again (cp {folder.relative_to(REPO)}/... charts/modelrelease/{copy}/)"
    )


def test_the_chart_installs_the_image_make_images_builds_by_default() -> None:
    version = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert version is not None
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == version.group(1)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["image"]["tag"] == "", "the tag defaults to appVersion"
