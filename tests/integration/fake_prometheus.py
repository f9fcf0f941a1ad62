"""A stand-in for a Prometheus HTTP API: answers the release's instant queries with
serving counters that grow with time, at rates and latencies the test sets per version.

The operator process queries it over HTTP exactly as it would a real Prometheus
(tests/e2e_local runs the real one against real serving processes).
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LATENCY_BOUNDS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "+Inf")
SCORE_BOUNDS = (*(f"{0.05 * i:.2f}" for i in range(21)), "+Inf")


@dataclass
class Serving:
    """How one version serves from now on: requests a second, errors, latency bucket."""

    rate: float = 20.0
    error_share: float = 0.0
    latency_bucket: int = 2  # index into LATENCY_BOUNDS every request falls into


@dataclass
class _Counters:
    since: float
    how: Serving
    requests: float = 0.0
    errors: float = 0.0
    latency: list[float] | None = None  # per bucket, not cumulative

    def now(self) -> tuple[float, float, list[float]]:
        served = self.how.rate * (time.monotonic() - self.since)
        latency = list(self.latency or [0.0] * len(LATENCY_BOUNDS))
        latency[self.how.latency_bucket] += served
        return self.requests + served, self.errors + served * self.how.error_share, latency


class FakePrometheus:
    def __init__(self) -> None:
        self.versions: dict[str, _Counters] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.address = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.queries = 0
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, version: str, how: Serving) -> None:
        """Change how `version` serves from now; what it served so far stays counted."""
        with self._lock:
            old = self.versions.get(version)
            requests, errors, latency = old.now() if old else (0.0, 0.0, None)
            self.versions[version] = _Counters(time.monotonic(), how, requests, errors, latency)

    def _samples(self, query: str) -> list[dict[str, Any]]:
        wanted = re.search(r'version=~"([^"]*)"', query)
        versions = wanted.group(1).split("|") if wanted else []
        out: list[dict[str, Any]] = []
        with self._lock:
            for version in versions:
                if version not in self.versions:
                    continue
                requests, errors, latency = self.versions[version].now()
                if query.startswith("sum by (version, endpoint, outcome)"):
                    outcomes = (("success", requests - errors), ("server_error", errors))
                    for outcome, value in outcomes:
                        labels = {"version": version, "endpoint": "predict", "outcome": outcome}
                        out.append(_sample(labels, value))
                elif "request_duration_seconds_bucket" in query:
                    cumulative = 0.0
                    for bound, count in zip(LATENCY_BOUNDS, latency, strict=True):
                        cumulative += count
                        labels = {"version": version, "endpoint": "predict", "le": bound}
                        out.append(_sample(labels, cumulative))
                elif "prediction_score_bucket" in query:
                    for index, bound in enumerate(SCORE_BOUNDS):
                        share = (index + 1) / len(SCORE_BOUNDS)
                        out.append(_sample({"version": version, "le": bound}, requests * share))
                else:
                    out.append(_sample({"version": version}, 0.0))
        return out

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parsed = urllib.parse.urlparse(self.path)
                query = urllib.parse.parse_qs(parsed.query).get("query", [""])[0]
                fake.queries += 1
                body = json.dumps(
                    {
                        "status": "success",
                        "data": {"resultType": "vector", "result": fake._samples(query)},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()


def _sample(labels: dict[str, str], value: float) -> dict[str, Any]:
    return {"metric": labels, "value": [time.time(), repr(float(value))]}
