"""pyproject.toml's lower bounds stay at or above the first release free of known advisories
(the images install what pyproject.toml allows: images/requirements.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]

#: package -> (the lowest safe version, the advisories below it).
SAFE_FLOORS: dict[str, tuple[str, str]] = {
    "orjson": ("3.11.6", "CVE-2024-27454 (3.9.15: loads, deep nesting), CVE-2025-67221 (dumps)"),
    "pyarrow": ("14.0.1", "CVE-2023-47248: arbitrary code execution reading untrusted Parquet"),
    "aiohttp": ("3.13.3", "CVE-2024-30251, CVE-2024-52304, CVE-2025-53643, CVE-2025-69223"),
    "starlette": ("0.49.1", "CVE-2024-47874, CVE-2025-54121, CVE-2025-62727"),
    "scikit-learn": ("1.5.0", "CVE-2024-5206"),
    "cryptography": ("50.0.0", "CVE-2024-26130, CVE-2026-26007, CVE-2026-69247"),
}
#: Dropping these altogether also needs a look at this test.
REQUIRED = ("orjson", "pyarrow")


def requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    return [Requirement(line) for line in lines]


def floor(requirement: Requirement) -> Version | None:
    """The least version the specifier can admit, from its >=, >, == and ~= clauses."""
    bounds = [
        Version(spec.version)
        for spec in requirement.specifier
        if spec.operator in {">=", ">", "==", "~=", "==="} and "*" not in spec.version
    ]
    return max(bounds, default=None)


@pytest.mark.parametrize("package", sorted(SAFE_FLOORS))
def test_no_floor_admits_a_version_with_a_known_advisory(package: str) -> None:
    safe, advisories = SAFE_FLOORS[package]
    found = [r for r in requirements() if r.name.lower() == package]
    if package in REQUIRED:
        assert found, f"{package} is no longer a dependency: update this test"
    for requirement in found:
        least = floor(requirement)
        assert least is not None and least >= Version(safe), (
            f"pyproject.toml: {requirement} admits {package} below {safe} ({advisories})"
        )


def test_the_floor_reader_sees_unsafe_floors() -> None:
    assert floor(Requirement("orjson>=3.9")) == Version("3.9")
    assert floor(Requirement("orjson")) is None
    assert floor(Requirement("pyarrow>=14.0.1,<30")) == Version("14.0.1")
