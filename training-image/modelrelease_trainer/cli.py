"""`modelrelease-trainer`: train one model and report; exit 2 with one line on bad input."""

from __future__ import annotations

import argparse
import json
import sys

from . import artifacts, config
from .errors import TrainerError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelrelease-trainer", description=__doc__)
    parser.add_argument(
        "--config",
        help="JSON/YAML trainer config or a ModelTraining manifest "
        "(default: $MODELRELEASE_TRAINER_CONFIG)",
    )
    parser.add_argument("--output", help="artifact folder or URL (overrides the config)")
    parser.add_argument(
        "--termination-log",
        help="where to write the summary for the pod status "
        f"(default {config.DEFAULT_TERMINATION_LOG})",
    )
    args = parser.parse_args(argv)
    termination_log = args.termination_log or config.DEFAULT_TERMINATION_LOG
    try:
        settings = config.load(args.config, args.output, args.termination_log)
        termination_log = settings.termination_message_path
        from . import training  # heavy imports only once the config is sound

        summary = training.run(settings)
    except TrainerError as error:
        termination_log = args.termination_log or error.termination_message_path or termination_log
        print(f"error: {error}", file=sys.stderr)
        artifacts.write_termination_message(termination_log, json.dumps({"error": str(error)}))
        return error.exit_code
    artifacts.write_termination_message(termination_log, artifacts.termination_message(summary))
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
