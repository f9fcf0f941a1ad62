"""Generate the CustomResourceDefinitions in crds/ from the pydantic models.

Kubernetes wants *structural* schemas: every node typed, no $ref, no anyOf/oneOf of
types, no `title`. Pydantic's JSON schema is turned into that here, keeping defaults,
bounds, patterns, enums, descriptions and the `x-kubernetes-*` extensions.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from . import GROUP, VERSION

KEPT_KEYS = {
    "type",
    "description",
    "default",
    "enum",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "multipleOf",
    "required",
    "nullable",
}


@dataclass(frozen=True)
class CrdInfo:
    """Everything a CRD says besides its schema."""

    kind: str
    plural: str
    singular: str
    short_names: list[str]
    spec: type[BaseModel]
    status: type[BaseModel]
    printer_columns: list[dict[str, Any]]
    categories: list[str] = field(default_factory=lambda: ["modelrelease"])
    description: str = ""


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            merged = {**_resolve(target, defs), **{k: v for k, v in node.items() if k != "$ref"}}
            return _resolve(merged, defs)
        return {k: _resolve(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, defs) for v in node]
    return node


def _structural(node: dict[str, Any]) -> dict[str, Any]:
    """One schema node in structural form."""
    node = dict(node)
    variants = node.pop("anyOf", None) or node.pop("oneOf", None)
    if variants is not None:
        typed = [v for v in variants if v.get("type") != "null"]
        if len(typed) != 1:
            raise ValueError(f"cannot express a union of {len(typed)} types structurally: {node}")
        node = {**typed[0], **node}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "enum" in node and "type" not in node:
        node["type"] = "string"

    out: dict[str, Any] = {k: v for k, v in node.items() if k in KEPT_KEYS}
    # JSON Schema's numeric exclusive bounds are OpenAPI v3.0's boolean flags.
    for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(out.get(flag), (int, float)) and not isinstance(out[flag], bool):
            out[bound] = out[flag]
            out[flag] = True
    out.update({k: v for k, v in node.items() if k.startswith("x-kubernetes-")})
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out["type"] = "object"
        return out
    kind = out.get("type")
    if kind == "object":
        properties = node.get("properties")
        if properties:
            out["properties"] = {name: _structural(p) for name, p in properties.items()}
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            out["additionalProperties"] = _structural(extra) if extra else {}
            if not extra:
                out["x-kubernetes-preserve-unknown-fields"] = True
                out.pop("additionalProperties")
        if not properties and extra is None:
            out["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        out["items"] = _structural(node.get("items", {"type": "string"}))
    elif kind is None:
        raise ValueError(f"schema node without a type: {node}")
    if out.get("default") is None:
        out.pop("default", None)
    return out


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a model, by its camelCase aliases."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return _structural(_resolve(raw, defs))


def crd(info: CrdInfo) -> dict[str, Any]:
    """The CustomResourceDefinition for one kind."""
    status = model_schema(info.status)
    # Kopf keeps its handler progress under status.kopf; without room for it there,
    # the API server prunes it and progress is silently lost.
    status.setdefault("properties", {})["kopf"] = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    spec = model_schema(info.spec)
    schema = {
        "type": "object",
        "description": info.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{info.plural}.{GROUP}",
            "labels": {
                "app.kubernetes.io/name": "modelrelease",
                "app.kubernetes.io/part-of": "modelrelease",
            },
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": info.short_names,
                "categories": info.categories,
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": info.printer_columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def all_crds() -> dict[str, dict[str, Any]]:
    """File name → CRD, for every kind the operator serves."""
    from .release import CRD_INFO as release_info
    from .training import CRD_INFO as training_info

    return {f"{GROUP}_{info.plural}.yaml": crd(info) for info in (training_info, release_info)}


def render(document: dict[str, Any]) -> str:
    header = "# Generated by `modelrelease-crdgen` from the operator's API models. Do not edit.\n"
    return header + yaml.safe_dump(document, sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("crds"), help="folder to write into")
    parser.add_argument(
        "--check", action="store_true", help="fail if the folder differs from the models"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, document in all_crds().items():
        path = args.out / name
        text = render(document)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("stale CRDs (run modelrelease-crdgen): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
