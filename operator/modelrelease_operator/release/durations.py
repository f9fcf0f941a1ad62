"""Go-style durations ("30s", "1m30s", "1.5h"), as Argo Rollouts and Flagger write them."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> timedelta:
    """ "1m30s" → 90 s; "250ms" → 0.25 s. The CRD's pattern has already checked the form."""
    parts = _PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m)")
    return timedelta(seconds=sum(float(number) * _SECONDS[unit] for number, unit in parts))


def format_seconds(seconds: float) -> str:
    """A short duration for messages and PromQL ranges: 90.4 → "90s"."""
    return f"{max(1, round(seconds))}s"
