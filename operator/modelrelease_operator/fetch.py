"""Bounded HTTP reads of URLs that users put in their resources.

A release names `reference.json` locations and Prometheus addresses; the operator
fetches them for every release it serves. So every fetch has a deadline for the whole
answer (not only per read: a server that drips one byte a second never ends a per-read
timeout), a size cap, no redirects (a redirect can point anywhere, including the cloud
metadata endpoint), and, when the operator is configured with one, an allowlist of URL
prefixes.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

CHUNK = 64 * 1024


class FetchError(Exception):
    """The URL was not fetched; the message says why (for status and logs)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> None:
        raise FetchError(f"refusing a redirect ({code}) to {newurl}")


_OPENER = urllib.request.build_opener(_NoRedirects())


def allowed(url: str, allow: Sequence[str]) -> bool:
    """Whether `url` starts with one of the prefixes (no prefixes: anything)."""
    return not allow or any(url.startswith(prefix) for prefix in allow)


def get(url: str, *, timeout: float, max_bytes: int, allow: Sequence[str] = ()) -> bytes:
    """The body of GET `url`, within `timeout` seconds in all and `max_bytes` bytes."""
    if not url.startswith(("http://", "https://")):
        raise FetchError(f"not an http(s) URL: {url[:200]}")
    if not allowed(url, allow):
        raise FetchError(f"{url[:200]} is not allowed by the operator's fetch allowlist")
    deadline = time.monotonic() + timeout
    try:
        with _OPENER.open(url, timeout=timeout) as reply:
            length = reply.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise FetchError(f"answer of {length} bytes is over the {max_bytes}-byte limit")
            body = bytearray()
            while True:
                if time.monotonic() > deadline:
                    raise FetchError(f"no complete answer within {timeout:g}s")
                chunk = reply.read1(CHUNK)  # one recv at most: the deadline holds
                if not chunk:
                    return bytes(body)
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(f"answer over the {max_bytes}-byte limit")
    except FetchError:
        raise
    except urllib.error.HTTPError as error:
        raise FetchError(f"HTTP {error.code} {error.reason}") from error
    except (OSError, ValueError) as error:
        raise FetchError(str(error) or type(error).__name__) from error
