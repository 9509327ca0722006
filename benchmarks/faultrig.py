"""The real processes a fault run breaks: a private Redis with an append-only file, and
``batchline worker`` and ``beat`` processes, each of which can be SIGKILLed and started again.

Nothing here touches the shared Redis on 6379: the rig starts its own ``redis-server`` on a
free port, with its files in the run's directory, and stops every process it started by PID.
"""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from batchline.demo.processes import free_port, redis_answers
from batchline.workers.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[1]

#: Seconds a process gets to stop after SIGTERM before it is SIGKILLed.
STOP_GRACE = 10.0


def settings_env(settings: WorkerSettings) -> dict[str, str]:
    """Environment variables that make ``WorkerSettings()`` equal ``settings`` in a child."""
    return settings.as_env()


def stop(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    """Stop one child by its PID: ``sig``, then SIGKILL if it outlives the grace."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class PrivateRedis:
    """A ``redis-server`` of the run's own, persisting with AOF every second (the common
    production setting, which loses up to the last second of writes when killed)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self, timeout: float = 15.0) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
        argv += ["--dir", str(self.workdir)]
        with open(self.workdir / "redis.log", "ab") as sink:
            self.proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not redis_answers(self.url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {self.workdir}/redis.log")
            time.sleep(0.05)

    def restart(self, sig: signal.Signals = signal.SIGKILL, down_for: float = 1.0) -> None:
        """Stop Redis with ``sig`` (SIGTERM: a clean shutdown; SIGKILL: a crash), wait
        ``down_for`` seconds, and start it again on the same port and files."""
        if self.proc is not None:
            stop(self.proc, sig)
        time.sleep(down_for)
        self.restarts += 1
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


class Service:
    """``batchline worker`` and ``beat`` processes for one set of settings."""

    def __init__(self, settings: WorkerSettings, env: dict[str, str], workdir: Path) -> None:
        self.env = {**os.environ, **env, **settings_env(settings), "PYTHONPATH": str(ROOT)}
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.kills: Counter[str] = Counter()

    def _argv(self, name: str) -> list[str]:
        batchline = [sys.executable, "-c", "from batchline.cli import main; main()"]
        if name == "beat":
            return [*batchline, "beat", f"--schedule={self.workdir / 'beat-schedule'}"]
        return [
            *batchline,
            "worker",
            "--concurrency=4",
            f"--hostname={name}@%h",
            "--without-mingle",
            "--without-gossip",
        ]

    def start(self, name: str) -> subprocess.Popen[bytes]:
        with open(self.workdir / f"{name}.log", "ab") as sink:
            proc = subprocess.Popen(
                self._argv(name),
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.procs[name] = proc
        return proc

    def wait_ready(self, names: tuple[str, ...], timeout: float = 240.0) -> None:
        """Until each named worker has logged Celery's ``ready.`` (a cold start imports every
        provider SDK, which takes seconds on a loaded machine)."""
        deadline = time.monotonic() + timeout
        while not all("ready." in self.log(name) for name in names):
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready after {timeout:g} s: see {self.workdir}")
            time.sleep(0.2)

    def kill(self, name: str) -> None:
        """SIGKILL one process (no cleanup of any kind) and start it again at once."""
        stop(self.procs[name], signal.SIGKILL)
        self.kills[name] += 1
        self.start(name)

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            stop(proc)


class WebhookReceiver:
    """A local HTTP endpoint that counts the webhook deliveries it receives, by delivery id."""

    def __init__(self) -> None:
        self.deliveries: Counter[str] = Counter()
        lock = threading.Lock()
        deliveries = self.deliveries

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    deliveries[self.headers.get("X-Batchline-Delivery", "")] += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    @contextmanager
    def serving(self) -> Iterator[WebhookReceiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(timeout=5)
