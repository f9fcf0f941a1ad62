"""Start the real server as a process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO

MODEL = "loan-default"
VERSION = "v1"
# One plausible applicant, as a /predict record.
RECORD: dict[str, object] = {
    "age": 41,
    "income": 52000.0,
    "employment_type": "salaried",
    "employment_years": 6,
    "home_ownership": "rent",
    "credit_history_years": 9.5,
    "debt_to_income": 0.31,
    "open_credit_lines": 4,
    "delinquencies_2y": 0,
    "loan_amount": 12000,
    "loan_term_months": 36,
    "interest_rate": 0.11,
    "purpose": "car",
}


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(artifact: Path, log: Path, **settings: str) -> Server:
    """Runs `python -m modelrelease_server`; returns once /v2/health/live answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELRELEASE_SERVER_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update({f"MODELRELEASE_SERVER_{k.upper()}": v for k, v in settings.items()})
    env["MODELRELEASE_SERVER_ARTIFACT"] = str(artifact)
    command = [sys.executable, "-m", "modelrelease_server", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server(process, f"http://127.0.0.1:{port}", port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{server.url}/v2/health/live", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"server not live after 60s: {log.read_text()}")


@pytest.fixture(scope="session")
def server(
    loan_default_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server on the trained artifact with small limits, shared by the API tests."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    running = start_server(
        loan_default_artifact,
        log,
        max_body_bytes="65536",
        max_rows="500",
        feedback_capacity="1000",
        expected_digest=(loan_default_artifact / "model.sha256").read_text().strip(),
    )
    yield running
    assert running.stop() == 0, log.read_text()


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http
