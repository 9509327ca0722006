"""``batchline demo``: the whole service on one machine, from enqueue to callback, in a minute.

With no arguments it needs nothing but Python and Redis: the sandbox stands in for the three
providers, a worker and a beat run as child processes, and one small job per provider goes
through the real path (Redis, Celery tasks, the official SDKs over HTTP). With ``--model`` and
real credentials the same steps run against the real providers.

Everything the demo starts, it stops: the children on normal exit, on an error and on Ctrl-C
(they run in their own process groups, so the terminal's Ctrl-C reaches only the demo, which
then stops them in order). It works in its own queue and key prefix, so it can share a Redis
with a real deployment without either seeing the other's jobs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from pydantic import BaseModel
from redis.backoff import NoBackoff
from redis.retry import Retry

from batchline.config import Settings
from batchline.errors import ConfigurationError
from batchline.workers.callbacks import on_batch_complete

if TYPE_CHECKING:
    from batchline.workers.api import JobHandle

#: One model per provider; the sandbox answers for any name, so these are the price table's.
DEMO_MODELS = ("openai/gpt-4.1-mini", "anthropic/claude-haiku-4-5", "google/gemini-2.5-flash")
#: Seconds between beat's polls of the providers during the demo (the product default is 30).
DEMO_POLL_INTERVAL = "1"
#: Seconds the children get to stop after SIGTERM before they are killed. Against real
#: providers a worker may be inside a submit call: it gets time to record the batch it made.
STOP_GRACE = {"sandbox": 5.0, "live": 30.0}
#: Worker options for a one-worker demo: no waiting to sync with workers that do not exist.
DEMO_WORKER_ARGS = ("--without-mingle", "--without-gossip")
#: Seconds a locally started redis-server gets to answer.
REDIS_START_TIMEOUT = 10.0


# -- prices ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float

    def cost(self, tokens: TokenCount) -> float:
        return (tokens.input * self.input + tokens.output * self.output) / 1_000_000


@dataclass(frozen=True, slots=True)
class ModelPrice:
    live: Price
    batch: Price


@dataclass(frozen=True, slots=True)
class PriceTable:
    """List prices on one date (``batchline/data/prices.json``): data, not code, so that a
    price change is a one-line edit with its date beside it."""

    as_of: date
    currency: str
    models: Mapping[str, ModelPrice]

    @classmethod
    def load(cls) -> PriceTable:
        raw = json.loads(resources.files("batchline").joinpath("data/prices.json").read_text())
        return cls(
            as_of=date.fromisoformat(raw["as_of"]),
            currency=raw["currency"],
            models={
                name: ModelPrice(live=Price(**entry["live"]), batch=Price(**entry["batch"]))
                for name, entry in raw["models"].items()
            },
        )

    def lookup(self, model: str) -> ModelPrice | None:
        """The price of ``model``, or of the model it is a dated snapshot of.

        Providers pin snapshots by suffix (``claude-haiku-4-5-20251001``,
        ``gpt-4.1-mini-2025-04-14``) at the alias's price, so the longest listed prefix wins.
        """
        if model in self.models:
            return self.models[model]
        prefixes = [name for name in self.models if model.startswith(name + "-")]
        return self.models[max(prefixes, key=len)] if prefixes else None


@dataclass(frozen=True, slots=True)
class TokenCount:
    input: int = 0
    output: int = 0

    @classmethod
    def from_usage(cls, usage: Mapping[str, int] | None) -> TokenCount:
        """Read one result's usage, whichever provider's words it is in (OpenAI's chat API
        says prompt/completion, the others input/output)."""
        if not usage:
            return cls()
        return cls(
            input=int(usage.get("input_tokens", usage.get("prompt_tokens", 0))),
            output=int(usage.get("output_tokens", usage.get("completion_tokens", 0))),
        )

    def __add__(self, other: TokenCount) -> TokenCount:
        return TokenCount(self.input + other.input, self.output + other.output)


# -- redis ------------------------------------------------------------------------------------


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


# -- child processes ----------------------------------------------------------------------------


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


# -- credentials --------------------------------------------------------------------------------

#: Settings a provider needs before the demo may spend money on it: (attribute, env var).
REQUIRED_SETTINGS: Mapping[str, Sequence[tuple[str, str]]] = {
    "openai": (("openai_api_key", "OPENAI_API_KEY"),),
    "anthropic": (("anthropic_api_key", "ANTHROPIC_API_KEY"),),
    "google": (("google_cloud_project", "GOOGLE_CLOUD_PROJECT"), ("gcs_bucket", "GCS_BUCKET")),
}


def check_models(models: Sequence[str], settings: Settings, *, sandbox: bool) -> None:
    """Refuse before anything starts: an unknown provider, or (live) a missing credential.

    Raises:
        InvalidRequestError: a model string is not ``provider/name`` of a known provider.
        ConfigurationError: a live run lacks a provider's credential; names the variable.
    """
    from batchline.batching.processor import split_model
    from batchline.errors import UnknownProviderError

    for model in models:
        provider, _ = split_model(model)
        if provider not in REQUIRED_SETTINGS:
            raise UnknownProviderError(
                f"unknown provider {provider!r} in {model!r}: use "
                + ", ".join(f"{name}/..." for name in REQUIRED_SETTINGS)
            )
        missing = [env for attr, env in REQUIRED_SETTINGS[provider] if not getattr(settings, attr)]
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
        return self.models or DEMO_MODELS


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
        return None if self.price is None else self.price.live.cost(self.tokens)

    @property
    def batch_cost(self) -> float | None:
        return None if self.price is None else self.price.batch.cost(self.tokens)


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
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        return log_dir.resolve()
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="batchline-demo-")))


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
    }
    if "BATCHLINE_POLL_INTERVAL" in env:
        overrides["poll_interval"] = float(env["BATCHLINE_POLL_INTERVAL"])
    return create_app(WorkerSettings(**overrides))


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
            if result.success:
                succeeded += 1
                tokens += TokenCount.from_usage(result.usage)
            else:
                failed += 1
    return JobReport(
        model=model,
        job_id=handle.id,
        state=summary.state,
        outcome=summary.outcome,
        requests=summary.request_count,
        succeeded=succeeded,
        failed=failed,
        tokens=tokens,
        price=PriceTable.load().lookup(model),
        error=summary.last_error,
    )
