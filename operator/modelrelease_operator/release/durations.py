"""Go-style durations ("30s", "1m30s", "1.5h"), as Argo Rollouts and Flagger write them."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"([0-9]+)(?:\.([0-9]+))?(ms|s|m|h)")
_NANOSECONDS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
#: Go's (and CEL's) largest duration: 2^63 - 1 ns, about 290 years.
MAX_NANOSECONDS = 2**63 - 1


def duration_nanoseconds(text: str) -> int:
    """ "1m30s" → 90_000_000_000, exactly as Go's time.ParseDuration reads it (a fraction
    is scaled through a float64 and truncated, as there). A ValueError, never an
    OverflowError, for what is no duration or lies beyond Go's 290 years."""
    total, end = 0, 0
    for part in _PART.finditer(text):
        if part.start() != end:
            break
        end = part.end()
        whole, fraction, unit = part.groups()
        scale = _NANOSECONDS[unit]
        if len(whole.lstrip("0")) > 19:  # beyond any int64 (and int()'s digit limit)
            raise ValueError(f"duration out of range: {_shown(text)} (at most about 2562047h)")
        total += int(whole) * scale
        if fraction:
            # Go keeps the leading fraction digits that fit an int64 and drops the rest.
            digits = fraction[:18]
            total += int(float(int(digits)) * (scale / 10 ** len(digits)))
        if total > MAX_NANOSECONDS:
            raise ValueError(f"duration out of range: {_shown(text)} (at most about 2562047h)")
    if end == 0 or end != len(text):
        raise ValueError(f"not a duration: {_shown(text)} (use e.g. 30s, 5m, 1h30m)")
    return total


def parse_duration(text: str) -> timedelta:
    """ "1m30s" → 90 s; "250ms" → 0.25 s. The CRD has already checked the form and the
    range; a value an older CRD admitted that is no duration, or too long to be one, is
    a ValueError that says so (never an OverflowError)."""
    return timedelta(microseconds=duration_nanoseconds(text) // 1000)


def format_seconds(seconds: float) -> str:
    """A short duration for messages and PromQL ranges: 90.4 → "90s"."""
    return f"{max(1, round(seconds))}s"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")
