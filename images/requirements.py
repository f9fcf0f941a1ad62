"""Print the requirements of pyproject.toml's base dependencies and the given extras.

Image builds install these in a layer of their own before copying the code, so a change
to the code alone reuses it. `--xgboost xgboost-cpu` swaps the XGBoost distribution:
xgboost-cpu is the same library without CUDA kernels or NCCL, ~300 MB smaller.

    python3 requirements.py trainer,s3 --xgboost xgboost-cpu > requirements.txt
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirements(pyproject: Path, extras: list[str], xgboost: str) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    wanted = list(project.get("dependencies", []))
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    chosen: list[str] = []
    for line in wanted:
        match = NAME.match(line)
        if match and match.group(1).lower() == "xgboost":
            line = xgboost + line[match.end() :]
        if line not in chosen:
            chosen.append(line)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("extras", help="comma-separated extras, e.g. trainer,s3")
    parser.add_argument("--xgboost", default="xgboost", help="the XGBoost distribution")
    parser.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    args = parser.parse_args()
    extras = [e for e in args.extras.split(",") if e]
    print("\n".join(requirements(args.pyproject, extras, args.xgboost)))


if __name__ == "__main__":
    main()
