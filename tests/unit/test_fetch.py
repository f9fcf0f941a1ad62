"""Bounded fetches of user-given URLs, against a real HTTP server that misbehaves."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest
from modelrelease_operator.fetch import FetchError, get


class Misbehaving(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/ok":
            self._send(b'{"ok": true}')
        elif self.path == "/huge":
            self.send_response(200)
            self.end_headers()  # no Content-Length: only reading tells the size
            for _ in range(64):
                self.wfile.write(b"x" * 65536)
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
        else:
            self.send_error(404)

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_normal_answer_is_read(server: str) -> None:
    assert get(f"{server}/ok", timeout=5, max_bytes=1000) == b'{"ok": true}'


def test_an_answer_over_the_cap_is_refused(server: str) -> None:
    with pytest.raises(FetchError, match="over the 1048576-byte limit"):
        get(f"{server}/huge", timeout=10, max_bytes=1024 * 1024)


def test_a_dripping_answer_ends_at_the_deadline(server: str) -> None:
    began = time.monotonic()
    with pytest.raises(FetchError, match="no complete answer within 1s"):
        get(f"{server}/drip", timeout=1, max_bytes=1000)
    assert time.monotonic() - began < 3  # not the 10 s the drip takes


def test_redirects_are_not_followed(server: str) -> None:
    with pytest.raises(FetchError, match=r"refusing a redirect \(302\) to http://169.254"):
        get(f"{server}/redirect", timeout=5, max_bytes=1000)


def test_the_allowlist_and_the_scheme(server: str) -> None:
    with pytest.raises(FetchError, match="not allowed by the operator's fetch allowlist"):
        get(f"{server}/ok", timeout=5, max_bytes=1000, allow=("https://models.example/",))
    assert get(f"{server}/ok", timeout=5, max_bytes=1000, allow=(server,)) == b'{"ok": true}'
    with pytest.raises(FetchError, match="not an http"):
        get("file:///etc/passwd", timeout=5, max_bytes=1000)
    with pytest.raises(FetchError, match="HTTP 404"):
        get(f"{server}/missing", timeout=5, max_bytes=1000)
