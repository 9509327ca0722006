"""Real processes for the operations tests: start them in their own group, wait for them to
answer, and stop exactly them (by process-group id) however the test ends."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from batchline.demo.processes import free_port, stop_all

__all__ = ["BATCHLINE", "REPO", "answers", "free_port", "running", "start", "stop", "wait_until"]

REPO = Path(__file__).resolve().parents[2]
#: The ``batchline`` command of this venv (tests never rely on PATH).
BATCHLINE = str(Path(sys.executable).parent / "batchline")


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``check`` until it is true; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def answers(url: str, auth: tuple[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, auth=auth, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


def stop(*procs: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM each process's own group at once, then SIGKILL whichever lingers (the demo's
    own way of stopping its children)."""
    stop_all(procs, timeout)


def start(
    argv: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session (its own process group), output to ``log``."""
    with open(log, "wb") as sink:
        return subprocess.Popen(
            argv, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
        )


@contextmanager
def running(
    argv: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` in a new session with output to ``log``; always stopped on exit."""
    proc = start(argv, env, log, cwd)
    try:
        yield proc
    finally:
        stop(proc)
