"""Start-up checks of the artifact, and shutdown with requests in flight."""

from __future__ import annotations

import shutil
import signal
import socket
import time
from pathlib import Path

import httpx
import orjson

from tests.server.conftest import MODEL, RECORD, start_server


def test_digest_mismatch_is_live_but_not_ready(loan_default_artifact: Path, tmp_path: Path) -> None:
    server = start_server(
        loan_default_artifact, tmp_path / "log", expected_digest="sha256:" + "0" * 64
    )
    try:
        with server.client() as http:
            assert http.get("/v2/health/live").status_code == 200
            ready = http.get("/v2/health/ready")
            assert ready.status_code == 503
            assert "digest mismatch" in ready.json()["error"]
            assert http.get(f"/v2/models/{MODEL}/ready").status_code == 503
            assert http.post("/predict", json=RECORD).status_code == 503
    finally:
        assert server.stop() == 0
    log = (tmp_path / "log").read_text()
    assert "digest mismatch" in log


def test_incomplete_artifact_is_not_ready(loan_default_artifact: Path, tmp_path: Path) -> None:
    partial = tmp_path / "artifact"
    shutil.copytree(loan_default_artifact, partial)
    (partial / "reference.json").unlink()
    server = start_server(partial, tmp_path / "log")
    try:
        ready = httpx.get(f"{server.url}/v2/health/ready")
        assert ready.status_code == 503
        assert "reference.json is missing" in ready.json()["error"]
        assert httpx.get(f"{server.url}/v2/health/live").status_code == 200
    finally:
        assert server.stop() == 0


def test_sigterm_finishes_the_request_in_flight(
    loan_default_artifact: Path, tmp_path: Path
) -> None:
    server = start_server(loan_default_artifact, tmp_path / "log")
    body = orjson.dumps(RECORD)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        head = (
            f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        conn.sendall(head + body[:10])  # the request is now in flight, its body half sent
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.process.poll() is None  # still waiting for the request to finish
        conn.sendall(body[10:])
        response = b""
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            response += chunk
    assert response.startswith(b"HTTP/1.1 200"), response
    assert b'"predictions"' in response
    assert server.process.wait(timeout=30) == 0
