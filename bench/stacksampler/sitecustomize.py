"""A wall-clock stack sampler for the operator process (bench/scale.py --sample-stacks).

Put this folder on PYTHONPATH and set MODELRELEASE_STACK_SAMPLES to a file: every
MODELRELEASE_STACK_SAMPLE_SECONDS (default 0.02) a thread looks at every other thread's
stack (`sys._current_frames`) and counts, per thread group, where it is: the innermost
frames of the operator's own code and the innermost frame of all (a socket read, a lock,
JSON, pydantic). The counts are written to the file as JSON every 5 s and at exit. A
sample is wall-clock time, not CPU: a thread waiting for the API server counts too.
With MODELRELEASE_STACK_OBJECTS=SECONDS it also counts the live objects by type (the
garbage collector's, a pause of a fraction of a second) that often, and at exit; with
MODELRELEASE_STACK_TRACEMALLOC=1 as well, each count also lists the allocation sites
(tracemalloc, 12 frames) whose memory grew most since the first count (slow: a
diagnosis, not a measurement).
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import gc
import json
import os
import re
import sys
import threading
import time
import tracemalloc

_TARGET = os.environ.get("MODELRELEASE_STACK_SAMPLES")
_PERIOD = float(os.environ.get("MODELRELEASE_STACK_SAMPLE_SECONDS", "0.02"))
_OBJECTS = float(os.environ.get("MODELRELEASE_STACK_OBJECTS", "0"))
_TRACE = os.environ.get("MODELRELEASE_STACK_TRACEMALLOC") == "1"
_OWN = "modelrelease_operator"


def _group(name: str) -> str:
    return re.sub(r"[-_]?\d+(_\d+)?$", "", name) or name


def _where(frame: object) -> tuple[str, str]:
    own: list[str] = []
    leaf = ""
    depth = 0
    while frame is not None and depth < 80:
        code = frame.f_code  # type: ignore[attr-defined]
        here = f"{os.path.basename(code.co_filename)}:{code.co_name}"
        if not leaf:
            leaf = here
        if _OWN in code.co_filename and len(own) < 3:
            own.append(here)
        frame = frame.f_back  # type: ignore[attr-defined]
        depth += 1
    return " < ".join(own) or "-", leaf


def _run() -> None:
    counts: collections.Counter[tuple[str, str, str]] = collections.Counter()
    totals: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    started = time.time()
    census: list[dict[str, object]] = []
    baseline: list[tracemalloc.Snapshot] = []

    def grown() -> list[dict[str, object]]:
        snapshot = tracemalloc.take_snapshot()
        if not baseline:
            baseline.append(snapshot)
            return []
        found = []
        for stat in snapshot.compare_to(baseline[0], "traceback")[:12]:
            frames = [f"{os.path.basename(f.filename)}:{f.lineno}" for f in stat.traceback]
            found.append(
                {"kib": stat.size_diff // 1024, "blocks": stat.count_diff, "where": frames}
            )
        return found

    def count_objects() -> None:
        everything = gc.get_objects()
        kinds = collections.Counter(type(o).__name__ for o in everything)
        # asyncio.Queue: Kopf's per-object event backlogs among them.
        queued = [o.qsize() for o in everything if isinstance(o, asyncio.Queue)]
        del everything
        entry = {
            "at": round(time.time() - started),
            "objects": sum(kinds.values()),
            "top": kinds.most_common(15),
            "queues": len(queued),
            "queued": sum(queued),
            "longest_queue": max(queued, default=0),
            "grown": grown() if _TRACE else [],
        }
        with lock:
            census.append(entry)

    def dump() -> None:
        with lock:
            top = [
                {"thread": t, "operator": o, "leaf": leaf, "samples": n}
                for (t, o, leaf), n in counts.most_common(300)
            ]
            data = {
                "period": _PERIOD,
                "seconds": time.time() - started,
                "threads": dict(totals),
                "stacks": top,
                "objects": list(census),
            }
        partial = f"{_TARGET}.tmp"
        with open(partial, "w") as out:
            json.dump(data, out, indent=1)
        os.replace(partial, _TARGET)

    def at_exit() -> None:
        if _OBJECTS:
            count_objects()
        dump()

    atexit.register(at_exit)

    def loop() -> None:
        me = threading.get_ident()
        last = counted = time.monotonic()
        while True:
            time.sleep(_PERIOD)
            names = {t.ident: t.name for t in threading.enumerate()}
            frames = sys._current_frames()
            with lock:
                for ident, frame in frames.items():
                    if ident == me:
                        continue
                    thread = _group(names.get(ident, "?"))
                    own, leaf = _where(frame)
                    counts[(thread, own, leaf)] += 1
                    totals[thread] += 1
            if _OBJECTS and time.monotonic() - counted > _OBJECTS:
                counted = time.monotonic()
                count_objects()
            if time.monotonic() - last > 5:
                last = time.monotonic()
                dump()

    threading.Thread(target=loop, name="stack-sampler", daemon=True).start()


if _TARGET:
    if _TRACE:
        tracemalloc.start(12)
    _run()
