"""``batchline demo``'s run: start the services, enqueue one job per model, wait, report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from pydantic import BaseModel

from batchline.config import Settings
from batchline.demo.pricing import ModelPrice, PriceTable, TokenCount
from batchline.demo.processes import (
    batchline_argv,
    children,
    local_redis,
    redis_answers,
    sigterm_as_interrupt,
)
from batchline.errors import ConfigurationError
from batchline.workers.callbacks import on_batch_complete

if TYPE_CHECKING:
    from batchline.workers.api import JobHandle

#: Seconds between beat's polls of the providers during the demo (the product default is 30).
DEMO_POLL_INTERVAL = "1"
#: Seconds the children get to stop after SIGTERM before they are killed. Against real
#: providers a worker may be inside a submit call: it gets time to record the batch it made.
STOP_GRACE = {"sandbox": 5.0, "live": 30.0}
#: Worker options for a one-worker demo: no waiting to sync with workers that do not exist.
DEMO_WORKER_ARGS = ("--without-mingle", "--without-gossip")


# -- the jobs ---------------------------------------------------------------------------------


class Contact(BaseModel):
    """What the demo asks every model to pull out of one sentence."""

    name: str
    age: int


#: Short sentences, so a real run costs a fraction of a cent.
SENTENCES = (
    "Ada Lovelace was 36 when she died in 1852.",
    "Alan Turing, aged 41, had just finished a paper on morphogenesis.",
    "At 28, Grace Hopper joined the Naval Reserve.",
    "Katherine Johnson was 33 when she began computing trajectories for NASA.",
    "Edsger Dijkstra wrote his shortest-path algorithm at 26.",
    "Margaret Hamilton was 33 when Apollo 11 landed.",
    "Claude Shannon published his theory of communication at 32.",
    "Barbara Liskov, 47, gave the talk that named her substitution principle.",
)


def demo_messages(count: int) -> list[list[dict[str, str]]]:
    """``count`` one-turn conversations asking for a ``Contact``."""
    return [
        [
            {"role": "system", "content": "Extract the person's name and age."},
            {"role": "user", "content": SENTENCES[index % len(SENTENCES)]},
        ]
        for index in range(count)
    ]


def callback_key(prefix: str) -> str:
    """Redis list where the demo's callback leaves one line per job for the demo to print."""
    return f"{prefix}:demo:callbacks"


@on_batch_complete
def report_to_demo(job: JobHandle[Any]) -> None:
    """The demo's completion callback. It runs in a worker, another process than the demo, so
    it hands its line back through Redis, under the job's own key prefix."""
    results = job.results()
    typed = [r.result for r in results if r.success]
    summary = job.summary()
    line = f"{summary.model}: {len(typed)} of {len(results)} results typed as Contact"
    if typed:
        line += f", first: {typed[0].name} ({typed[0].age})"
    runtime = job.app.runtime
    key = callback_key(runtime.keys.prefix)
    runtime.redis.rpush(key, json.dumps({"job_id": job.id, "line": line}))
    runtime.redis.expire(key, 3600)


# -- models and credentials ---------------------------------------------------------------------


def demo_models() -> tuple[str, ...]:
    """One model per provider, each provider's ``example_model``; the sandbox answers for any
    name, so these are chosen to be in the price table."""
    from batchline.batching.providers import example_models

    return tuple(example_models())


def check_models(models: Sequence[str], settings: Settings, *, sandbox: bool) -> None:
    """Refuse before anything starts: an unknown provider, or (live) a missing credential.

    Raises:
        InvalidRequestError: a model string is not ``provider/name`` of a known provider.
        ConfigurationError: a live run lacks a provider's credential; names the variable.
    """
    from batchline.batching.processor import split_model
    from batchline.batching.providers import provider_class

    for model in models:
        provider, _ = split_model(model)
        missing = provider_class(provider).missing_settings(settings)
        if missing and not sandbox:
            raise ConfigurationError(
                f"{model} runs against the real provider and needs {' and '.join(missing)}; "
                "run `batchline demo` without --model to use the offline sandbox instead"
            )


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoOptions:
    #: ``provider/name`` per job; empty means one sandbox job per provider.
    models: tuple[str, ...] = ()
    #: Run against the local sandbox even with ``models`` given.
    sandbox: bool = False
    requests_per_job: int = 5
    #: Seconds to wait for every job to finish (real batches can take hours).
    timeout: float = 120.0
    #: Where the children's logs go (kept); a temporary directory otherwise.
    log_dir: Path | None = None

    @property
    def uses_sandbox(self) -> bool:
        return self.sandbox or not self.models

    @property
    def job_models(self) -> tuple[str, ...]:
        return self.models or demo_models()


@dataclass(frozen=True, slots=True)
class JobProgress:
    """One job as the live display shows it."""

    model: str
    job_id: str
    state: str
    requests: int
    counts: Mapping[str, int]
    batch_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class JobReport:
    model: str
    job_id: str
    state: str
    outcome: str
    requests: int
    succeeded: int
    failed: int
    tokens: TokenCount
    price: ModelPrice | None
    error: str = ""

    @property
    def live_cost(self) -> float | None:
        return None if self.price is None else self.tokens.cost(self.price.live)

    @property
    def batch_cost(self) -> float | None:
        return None if self.price is None else self.tokens.cost(self.price.batch)


@dataclass(slots=True)
class DemoReport:
    jobs: list[JobReport]
    callback_lines: list[str]
    prices: PriceTable
    sandbox: bool
    redis_url: str
    key_prefix: str
    log_dir: Path | None
    elapsed: float

    @property
    def saved(self) -> float:
        """Dollars the batch APIs saved over live calls, over the jobs with a known price."""
        return sum((j.live_cost or 0.0) - (j.batch_cost or 0.0) for j in self.jobs)


@dataclass(slots=True)
class DemoEvents:
    """What the CLI is told while the demo runs, so that it can print as things happen."""

    on_step: Callable[[str], None] = print
    on_progress: Callable[[list[JobProgress]], None] = lambda jobs: None
    interrupted: list[JobProgress] = field(default_factory=list)


def run_demo(options: DemoOptions, events: DemoEvents) -> DemoReport:
    """Start what is missing, run one job per model to its callback, and stop it all again.

    Raises:
        ConfigurationError: no usable Redis, or a missing credential for a live run.
        TimeoutError: the jobs did not finish within ``options.timeout``.
        ChildProcessError: the worker or beat died; the message holds its last log lines.
    """
    from batchline.config import get_settings

    settings = get_settings()
    check_models(options.job_models, settings, sandbox=options.uses_sandbox)
    started = time.monotonic()
    with ExitStack() as stack:
        stack.enter_context(sigterm_as_interrupt())
        workdir = _workdir(stack, options.log_dir)
        redis_url = settings.redis_url
        if redis_answers(redis_url):
            events.on_step(f"Redis at {redis_url}")
        else:
            redis_url = stack.enter_context(local_redis(workdir, settings.redis_url))
            events.on_step(f"no Redis at {settings.redis_url}; started redis-server at {redis_url}")
        env = dict(os.environ)
        if options.uses_sandbox:
            from batchline.sandbox import Sandbox

            sandbox = stack.enter_context(Sandbox())
            env.update(sandbox.env)
            events.on_step(f"sandbox for OpenAI, Anthropic and Vertex AI on {sandbox.base_url}")
        prefix = f"batchline-demo-{uuid.uuid4().hex[:8]}"
        env.update(_service_env(prefix, redis_url, env, sandbox=options.uses_sandbox))
        app = _celery_app(env)
        stack.callback(_forget, app.runtime.redis, prefix)
        events.on_step(_persistence_note(app))
        events.on_step(f"keys under {prefix}:* (removed at exit)")
        commands = {
            "worker": batchline_argv("worker", *DEMO_WORKER_ARGS),
            "beat": batchline_argv("beat"),
        }
        grace = STOP_GRACE["sandbox" if options.uses_sandbox else "live"]
        services = stack.enter_context(children(commands, workdir, env, grace))
        events.on_step(f"worker and beat started; logs in {workdir}")
        handles = _enqueue(app, options)
        try:
            _wait(handles, options, services, workdir, events)
        except KeyboardInterrupt:
            events.interrupted.extend(_progress(handles, options))
            raise
        jobs = [
            _job_report(handle, model)
            for model, handle in zip(options.job_models, handles, strict=True)
        ]
        said = [json.loads(raw) for raw in app.runtime.redis.lrange(callback_key(prefix), 0, -1)]
        order = {handle.id: index for index, handle in enumerate(handles)}
        lines = [entry["line"] for entry in sorted(said, key=lambda e: order.get(e["job_id"], 0))]
        return DemoReport(
            jobs=jobs,
            callback_lines=lines,
            prices=PriceTable.load(),
            sandbox=options.uses_sandbox,
            redis_url=redis_url,
            key_prefix=prefix,
            log_dir=options.log_dir,
            elapsed=time.monotonic() - started,
        )
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack swallows nothing


def _workdir(stack: ExitStack, log_dir: Path | None) -> Path:
    """Where the worker's and beat's logs go: ``log_dir``, or a temporary directory that is
    removed only when the demo succeeds (its path was printed; after a failure the logs are
    what the user reads next)."""
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        return log_dir.resolve()
    workdir = Path(tempfile.mkdtemp(prefix="batchline-demo-"))

    def remove_on_success(exc_type: type[BaseException] | None, *_: object) -> bool:
        if exc_type is None:
            shutil.rmtree(workdir, ignore_errors=True)
        return False

    stack.push(remove_on_success)
    return workdir


def _service_env(
    prefix: str, redis_url: str, env: Mapping[str, str], *, sandbox: bool
) -> dict[str, str]:
    """Where the demo's worker and beat keep their state: a queue and prefixes of their own,
    so a real deployment on the same Redis neither takes nor sees the demo's tasks."""
    values = {
        "REDIS_URL": redis_url,
        "BATCHLINE_KEY_PREFIX": prefix,
        "BATCHLINE_QUEUE": prefix,
        "BATCHLINE_BROKER_KEY_PREFIX": f"{prefix}:kombu:",
        # A demo's jobs last a minute: it may run on a Redis that keeps nothing on disk (the
        # throwaway one it starts does exactly that), and says so; a deployment refuses to.
        "BATCHLINE_ALLOW_VOLATILE_REDIS": "1",
    }
    # Against the sandbox a batch ends in about a second; real providers keep the default.
    if sandbox and "BATCHLINE_POLL_INTERVAL" not in env:
        values["BATCHLINE_POLL_INTERVAL"] = DEMO_POLL_INTERVAL
    return values


def _celery_app(env: Mapping[str, str]) -> Any:
    """The app the demo enqueues with, on exactly the children's Redis, queue and prefixes."""
    from batchline.workers.app import create_app
    from batchline.workers.settings import WorkerSettings

    overrides: dict[str, Any] = {
        "redis_url": env["REDIS_URL"],
        "key_prefix": env["BATCHLINE_KEY_PREFIX"],
        "queue": env["BATCHLINE_QUEUE"],
        "broker_key_prefix": env["BATCHLINE_BROKER_KEY_PREFIX"],
        "allow_volatile_redis": True,
    }
    if "BATCHLINE_POLL_INTERVAL" in env:
        overrides["poll_interval"] = float(env["BATCHLINE_POLL_INTERVAL"])
    return create_app(WorkerSettings(**overrides))


def _persistence_note(app: Any) -> str:
    """One line on whether this Redis would survive a restart (the demo runs either way)."""
    from batchline.workers.persistence import check_persistence

    found = app.runtime.server.persistence()
    if found.known and not found.durable:
        return (
            "Redis keeps nothing on disk: fine for a demo (BATCHLINE_ALLOW_VOLATILE_REDIS=1); "
            "a real worker or beat refuses to start on it"
        )
    return str(check_persistence(app.runtime, "demo")).removeprefix("batchline demo: ")


def _forget(client: redis.Redis, prefix: str) -> None:
    """Delete every key the demo wrote; a demo leaves no trace in a shared Redis."""
    try:
        doomed = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if doomed:
            client.delete(*doomed)
    except redis.RedisError:
        pass  # a local redis-server already stopped takes its keys with it
    finally:
        client.close()


def _enqueue(app: Any, options: DemoOptions) -> list[JobHandle[Contact]]:
    from batchline.workers.api import enqueue_batch

    return [
        enqueue_batch(
            model,
            Contact,
            demo_messages(options.requests_per_job),
            max_tokens=100,
            metadata={"source": "batchline-demo"},
            callbacks=[report_to_demo],
            app=app,
        )
        for model in options.job_models
    ]


def _progress(handles: Sequence[JobHandle[Contact]], options: DemoOptions) -> list[JobProgress]:
    progress = []
    for model, handle in zip(options.job_models, handles, strict=True):
        summary = handle.summary()
        progress.append(
            JobProgress(
                model=model,
                job_id=handle.id,
                state=summary.state,
                requests=summary.request_count,
                counts=dict(summary.counts),
                batch_ids=tuple(s["batch_id"] for s in summary.shards if s["batch_id"]),
            )
        )
    return progress


def _wait(
    handles: Sequence[JobHandle[Contact]],
    options: DemoOptions,
    services: Mapping[str, subprocess.Popen[bytes]],
    workdir: Path,
    events: DemoEvents,
) -> None:
    """Report progress until every job has run its callbacks; fail fast if a child dies."""
    from batchline.workers.jobs import TERMINAL_STATES

    deadline = time.monotonic() + options.timeout
    while True:
        progress = _progress(handles, options)
        events.on_progress(progress)
        if all(job.state in TERMINAL_STATES for job in progress):
            return
        for name, proc in services.items():
            if proc.poll() is not None:
                raise ChildProcessError(
                    f"the {name} stopped (exit code {proc.returncode}); the end of its log:\n"
                    + _tail(workdir / f"{name}.log")
                )
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the jobs did not finish within {options.timeout:g} s; "
                f"the worker's log: {workdir / 'worker.log'}"
            )
        time.sleep(0.25)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _job_report(handle: JobHandle[Contact], model: str) -> JobReport:
    """Outcome, counts and tokens of one finished job, priced from the table."""
    from batchline.workers.jobs import RESULTS_READY_STATES, JobState

    summary = handle.summary()
    succeeded = failed = 0
    tokens = TokenCount()
    if JobState(summary.state) in RESULTS_READY_STATES:
        for result in handle.iter_results():
            # Errors that carry usage were billed too (a truncated answer was generated).
            tokens.add(result.usage)
            if result.success:
                succeeded += 1
            else:
                failed += 1
    return JobReport(
        model=model,
        job_id=handle.id,
        state=summary.state,
        outcome=summary.outcome or "",
        requests=summary.request_count,
        succeeded=succeeded,
        failed=failed,
        tokens=tokens,
        price=PriceTable.load().lookup(model),
        error=summary.last_error,
    )
