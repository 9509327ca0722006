"""The processes the demo runs beside itself: a throwaway Redis when none answers, and the
worker and beat as children that are stopped together however the demo ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from batchline.errors import ConfigurationError

#: Seconds a locally started redis-server gets to answer.
REDIS_START_TIMEOUT = 10.0


def redis_answers(url: str) -> bool:
    """One quick PING: the client's own retries with backoff would make "no" take a while."""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=1, socket_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def redis_help(url: str) -> str:
    return (
        f"Redis is not answering at {url}, and there is no redis-server here to start one. "
        "Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install "
        "redis), or run one in Docker (docker run -d -p 6379:6379 redis:7), or set REDIS_URL "
        "to a Redis you can reach."
    )


@contextmanager
def local_redis(workdir: Path, tried_url: str) -> Iterator[str]:
    """A throwaway ``redis-server`` on a free loopback port, persisting nothing; yields its URL.

    Raises:
        ConfigurationError: ``redis-server`` is not installed or did not start.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise ConfigurationError(redis_help(tried_url))
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    argv += ["no", "--dir", str(workdir)]
    with children({"redis": argv}, workdir, os.environ) as procs:
        proc = procs["redis"]
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while not redis_answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ConfigurationError(
                    f"redis-server did not start; its log: {workdir / 'redis.log'}"
                )
            time.sleep(0.05)
        yield url


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def batchline_argv(*args: str) -> list[str]:
    """Run a ``batchline`` command with this interpreter, wherever the script was installed."""
    return [sys.executable, "-c", "from batchline.cli import main; main()", *args]


@contextmanager
def children(
    commands: Mapping[str, list[str]], workdir: Path, env: Mapping[str, str], grace: float = 5.0
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Run each command in its own process group, output to ``workdir/<name>.log``.

    However the block is left, all are stopped together: SIGTERM to every group at once
    (Celery's warm shutdown), then SIGKILL for any still running ``grace`` seconds later.
    """
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, argv in commands.items():
            with open(workdir / f"{name}.log", "ab") as sink:
                procs[name] = subprocess.Popen(
                    argv,
                    env=dict(env),
                    cwd=workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        yield procs
    finally:
        stop_all(list(procs.values()), grace)


def stop_all(procs: Sequence[subprocess.Popen[bytes]], grace: float) -> None:
    """Stop ``procs`` together. Ctrl-C is ignored meanwhile, so that pressing it again cannot
    cut the cleanup short and leave a worker running on its own."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _terminate(procs, grace)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _terminate(procs: Sequence[subprocess.Popen[bytes]], grace: float) -> None:
    running = [proc for proc in procs if proc.poll() is None]
    for proc in running:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while the demo runs, so cleanup runs for both."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
