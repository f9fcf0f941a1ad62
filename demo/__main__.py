"""`python -m demo [--scenario promote|rollback]`, `python -m demo down`."""

from __future__ import annotations

import argparse
import os
import sys

from . import cluster


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("action", nargs="?", default="up", choices=("up", "down"))
    parser.add_argument(
        "--scenario",
        default=os.environ.get("SCENARIO") or "promote",
        choices=("promote", "rollback"),
    )
    args = parser.parse_args()
    if args.action == "down":
        cluster.stop()
        return
    from .story import run

    sys.exit(run(args.scenario))


if __name__ == "__main__":
    main()
