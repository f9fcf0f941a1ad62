"""Child processes that cannot outlive the test run.

Each component runs in its own process group (so its children go with it), is
registered until stopped, and is killed by an atexit hook or a SIGTERM/SIGHUP handler
if the run ends without a teardown. On Linux the kernel also sends SIGKILL to each child
when the starting thread dies (PR_SET_PDEATHSIG), which covers a SIGKILLed pytest.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

_live: dict[int, Process] = {}
_lock = threading.Lock()
_handlers_installed = False
PR_SET_PDEATHSIG = 1


class Process:
    """One long-running component, its log file and its process group."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        _install_handlers()
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,  # its own process group, killed as one
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        with _lock:
            _live[self.popen.pid] = self

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the group, SIGKILL it after `grace` seconds; idempotent."""
        try:
            if self.alive():
                _signal_group(self.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(grace)
            # Also reaps anything the leader left behind in its group.
            _signal_group(self.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
        finally:
            with _lock:
                _live.pop(self.pid, None)

    def kill(self) -> None:
        """A crash, as far as the process can tell: SIGKILL, no cleanup."""
        self.stop(grace=0)

    def describe_exit(self) -> str:
        code = self.popen.poll()
        return f"{self.name} is running" if code is None else f"{self.name} exited with {code}"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask for SIGKILL when the parent dies.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def stop_all() -> None:
    """Kill every process still registered (newest first)."""
    with _lock:
        remaining = list(_live.values())
    for process in reversed(remaining):
        process.stop(grace=3.0)


def _install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(stop_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(sig)

        def handler(
            signum: int,
            frame: FrameType | None,
            previous: Callable[[int, FrameType | None], object] | int | None = previous,
        ) -> None:
            stop_all()
            if callable(previous):
                previous(signum, frame)
            else:
                raise SystemExit(128 + signum)

        signal.signal(sig, handler)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"<{path.name}: {error}>"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    watch: Sequence[Process] = (),
    interval: float = 0.2,
) -> float:
    """Poll `check` until true; fail early when a watched process has exited.

    Returns the seconds it took.
    """
    started = time.monotonic()
    deadline = started + timeout
    last_error: BaseException | None = None
    while True:
        for process in watch:
            if not process.alive():
                raise RuntimeError(
                    f"{process.describe_exit()} while waiting for {what}; "
                    f"its log ({process.log}) ends:\n{process.tail()}"
                )
        try:
            if check():
                return time.monotonic() - started
        except Exception as error:  # the thing polled is not up yet
            last_error = error
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name} ({p.log}):\n{p.tail()}" for p in watch)
            raise TimeoutError(
                f"timed out after {timeout:.0f}s waiting for {what}"
                f" (last error: {last_error!r})\n{logs}"
            )
        time.sleep(interval)
