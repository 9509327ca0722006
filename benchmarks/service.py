"""The running service the pipeline benchmark measures: the sandbox (with a call counter),
real Redis, and real Celery worker and beat processes.

Calls are counted from outside the sandbox: ``CountingSandbox`` wraps the ASGI app the sandbox
builds, so every HTTP request that reaches the emulated providers is counted by provider and
kind (status list, status get, create, upload, results...). Cloud Storage traffic goes to a
separate emulator and is not counted; it is never part of polling.

Workers run as separate ``celery worker`` processes with the production configuration
(``batchline.workers.app``), configured through the environment as a deployment would be.
Everything the benchmark writes to Redis lives under a unique key prefix in a private DB and is
deleted afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from batchline.sandbox import Sandbox
from batchline.workers.routing import consumed_queues
from benchmarks.pipeline_figures import PipelinePlan

#: A private Redis DB: the shared server's other DBs are never touched.
REDIS_URL = "redis://127.0.0.1:6379/13"
REPO_ROOT = Path(__file__).resolve().parents[1]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: Runs workers (and beat) for a service while its context is open:
#: ``launcher(app, config, sandbox_env, workers)``. The benchmark uses separate processes.
Launcher = Callable[[Any, "ServiceConfig", dict[str, str], int], AbstractContextManager[None]]

#: The collection endpoint of each provider's batches (list with GET, create with POST).
_COLLECTION = re.compile(r"/(batches|batchPredictionJobs)$")
_ITEM = re.compile(r"/(batches|batchPredictionJobs)/[^/]+$")
#: Kinds of call that answer "how is this batch doing?".
STATUS_KINDS = frozenset({"list", "get"})


def classify(method: str, path: str) -> tuple[str, str]:
    """``(provider, kind)`` of one HTTP call to the sandbox."""
    provider = path.strip("/").partition("/")[0] or "other"
    if path.endswith(("/results", "/content")):
        kind = "results"
    elif path.endswith(("/cancel", ":cancel")):
        kind = "cancel"
    elif path.endswith("/files") and method == "POST":
        kind = "upload"
    elif _COLLECTION.search(path):
        kind = "list" if method == "GET" else "create"
    elif _ITEM.search(path) and method == "GET":
        kind = "get"
    else:
        kind = "other"
    return provider, kind


class CallCounter:
    """ASGI middleware that counts HTTP calls by ``(provider, kind)``; thread-safe reads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            key = classify(scope["method"], scope["path"])
            with self._lock:
                self._counts[key] += 1
        await self.app(scope, receive, send)

    def snapshot(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self._counts)


class CountingSandbox(Sandbox):
    """The sandbox with a ``CallCounter`` around its app; the sandbox itself is unchanged."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counter: CallCounter | None = None

    def build_app(self) -> Any:
        self.counter = CallCounter(super().build_app())
        return self.counter


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Settings shared by the enqueueing process and the workers, as env and as fields."""

    prefix: str
    poll_interval: float
    #: Provider calls per second the workers allow themselves (lifted for the sandbox).
    rate_limit: float

    @classmethod
    def fresh(cls, poll_interval: float, rate_limit: float) -> ServiceConfig:
        return cls(f"blbench-{uuid.uuid4().hex[:10]}", poll_interval, rate_limit)

    @property
    def queue(self) -> str:
        return f"{self.prefix}.q"

    def settings_values(self) -> dict[str, Any]:
        return {
            "redis_url": REDIS_URL,
            "key_prefix": self.prefix,
            "queue": self.queue,
            "broker_key_prefix": f"{self.prefix}:kombu:",
            "poll_interval": self.poll_interval,
            "provider_rate_limit": self.rate_limit,
            "allow_volatile_redis": True,
        }

    def env(self) -> dict[str, str]:
        return {
            "REDIS_URL": REDIS_URL,
            "BATCHLINE_KEY_PREFIX": self.prefix,
            "BATCHLINE_QUEUE": self.queue,
            "BATCHLINE_BROKER_KEY_PREFIX": f"{self.prefix}:kombu:",
            "BATCHLINE_POLL_INTERVAL": repr(self.poll_interval),
            "BATCHLINE_PROVIDER_RATE_LIMIT": repr(self.rate_limit),
            # The machine's Redis keeps nothing on disk; a benchmark's jobs are throwaway.
            "BATCHLINE_ALLOW_VOLATILE_REDIS": "1",
        }


def delete_prefix(prefix: str) -> int:
    """Delete every key of one benchmark prefix (and only those)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        doomed = list(client.scan_iter(match=f"{prefix}*", count=2000))
        for start in range(0, len(doomed), 1000):
            client.delete(*doomed[start : start + 1000])
        return len(doomed)
    finally:
        client.close()


@contextmanager
def celery_processes(
    config: ServiceConfig, sandbox_env: dict[str, str], workers: int, *, beat: bool = True
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start ``workers`` worker processes (and one beat); stop exactly those on exit."""
    env = {**os.environ, **sandbox_env, **config.env()}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="batchline-bench-celery-") as workdir:
        logs = Path(workdir)
        celery = [sys.executable, "-m", "celery", "-A", "batchline.workers.app"]
        commands = [
            [
                *celery,
                "worker",
                "--pool=threads",
                f"--queues={','.join(consumed_queues(config.queue))}",
                f"--hostname=bench{index}-{config.prefix}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=WARNING",
            ]
            for index in range(1, workers + 1)
        ]
        if beat:
            commands.append(
                [*celery, "beat", f"--schedule={logs / 'beat-schedule'}", "--loglevel=WARNING"]
            )
        try:
            for number, command in enumerate(commands):
                log = open(logs / f"process-{number}.log", "wb")  # noqa: SIM115 - closed below
                processes.append(
                    subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=log, stderr=log)
                )
                log.close()  # the child keeps its own descriptor
            yield processes
        finally:
            _stop(processes)
            failed = [p for p in processes if p.returncode not in (0, -signal.SIGTERM)]
            if failed:
                tails = "\n".join(
                    (logs / f"process-{n}.log").read_text()[-2000:]
                    for n, p in enumerate(processes)
                    if p in failed
                )
                print(f"celery processes exited badly:\n{tails}", file=sys.stderr)


def _stop(processes: list[subprocess.Popen[bytes]], grace: float = 20.0) -> None:
    """Warm shutdown (SIGTERM) of the processes started here, then SIGKILL stragglers.

    Not a cold shutdown: the threads pool cannot kill a running task, and a poll tick is
    usually running when the pending-calls measurement ends.
    """
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def worker_processes(
    app: Any, config: ServiceConfig, sandbox_env: dict[str, str], workers: int
) -> Iterator[None]:
    """The benchmark's launcher: worker processes and beat, ready before anything is timed."""
    with celery_processes(config, sandbox_env, workers):
        wait_for_workers(app, workers)
        yield


def wait_for_workers(app: Any, count: int, timeout: float = 60.0) -> None:
    """Block until ``count`` workers answer a ping, so start-up time is never measured."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0, limit=count) or []
        if len(replies) >= count:
            return
    raise RuntimeError(f"{count} celery workers did not come up within {timeout:.0f} s")


# -- one running service, as the measurements see it ----------------------------------------------
@dataclass(slots=True)
class Service:
    """One measurement's service: its settings, the Celery app it enqueues with, the sandbox."""

    plan: PipelinePlan
    config: ServiceConfig
    #: The Celery app jobs are enqueued with (``BatchlineCelery``).
    app: Any
    sandbox: CountingSandbox

    def calls(self) -> Counter[tuple[str, str]]:
        if self.sandbox.counter is None:
            raise RuntimeError("the sandbox is not running, so no call was counted")
        return self.sandbox.counter.snapshot()

    def has_fired(self, job_id: str) -> bool:
        from benchmarks.callbacks import fired_key

        return bool(self.app.runtime.redis.hexists(fired_key(self.config.prefix), job_id))

    def fired(self) -> dict[str, float]:
        from benchmarks.callbacks import fired_key

        raw = self.app.runtime.redis.hgetall(fired_key(self.config.prefix))
        return {job_id: float(value) for job_id, value in raw.items()}


@contextmanager
def running_service(
    plan: PipelinePlan, sandbox: Any, *, workers: int, launcher: Launcher | None = None
) -> Iterator[Service]:
    """A fresh key prefix, its Celery app, and (unless ``workers`` is 0) running workers."""
    from batchline.workers.app import create_app
    from batchline.workers.settings import WorkerSettings

    config = ServiceConfig.fresh(plan.poll_interval, plan.rate_limit)
    app = create_app(WorkerSettings(**config.settings_values()))
    try:
        if workers:
            with (launcher or worker_processes)(app, config, sandbox.env, workers):
                yield Service(plan, config, app, sandbox)
        else:
            yield Service(plan, config, app, sandbox)
    finally:
        app.runtime.redis.close()
        app.close()
        delete_prefix(config.prefix)


def calls_between(
    before: Counter[tuple[str, str]], after: Counter[tuple[str, str]], provider: str
) -> dict[str, int]:
    return {
        kind: after[(p, kind)] - before[(p, kind)]
        for (p, kind) in after
        if p == provider and after[(p, kind)] > before[(p, kind)]
    }


def shard_polls(service: Service, provider: str, started: float, ended: float) -> int | None:
    """How many shards the poll ticks that finished between ``started`` and ``ended`` handled.

    Each tick returns a report (``due``: shards it polled) that Celery keeps in the result
    backend; reading them tells whether every pending job was really polled each interval.
    """
    import orjson

    from batchline.workers.tasks import POLL_PROVIDER

    client = service.app.runtime.redis
    pattern = f"{service.config.prefix}:kombu:celery-task-meta-*"
    total = 0
    seen_any = False
    keys = list(client.scan_iter(match=pattern, count=2000))
    for start in range(0, len(keys), 500):
        for raw in client.mget(keys[start : start + 500]):
            meta = orjson.loads(raw) if raw else {}
            report = meta.get("result")
            if meta.get("name") not in (None, POLL_PROVIDER) or not isinstance(report, dict):
                continue
            if report.get("provider") != provider or "due" not in report:
                continue
            seen_any = True
            done = _timestamp(meta.get("date_done"))
            if done is not None and started <= done <= ended:
                total += int(report["due"])
    return total if seen_any else None


def _timestamp(value: Any) -> float | None:
    from datetime import UTC, datetime

    if not isinstance(value, str):
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:  # Celery writes UTC, sometimes without saying so
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
