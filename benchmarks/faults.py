"""The fault suite: jobs over the three providers while workers, beat and Redis are SIGKILLed,
the sandbox answers 429/500/503 on a share of calls, or broker messages are deleted.

``python -m benchmarks.faults`` runs the long form on several seeds and writes
``docs/reliability.md``; ``tests/faults`` runs a short form of each scenario. After a run it
checks, per job:

- the job ended (``callbacks_done``) before the run's deadline;
- the provider holds exactly one batch per shard (asked through the SDKs: 0 duplicates);
- every request came back exactly once;
- the callback ran exactly once, or twice when the first call's worker was SIGKILLed
  (the documented exception: a kill inside a callback);
- the webhook arrived at least once.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from batchline.batching.providers import BatchMark
from batchline.sandbox import Faults, Sandbox
from batchline.workers import JobHandle, JobState, enqueue_batch, webhook
from batchline.workers.app import BatchlineCelery, create_app
from batchline.workers.runtime import META_JOB
from batchline.workers.settings import WorkerSettings
from benchmarks.faultcallbacks import Person, record_call
from benchmarks.faultrig import PrivateRedis, Service, WebhookReceiver

MODELS = ("openai/gpt-4.1-mini", "anthropic/claude-3-5-haiku-latest", "google/gemini-2.5-flash")
WORKERS = ("worker-1", "worker-2")
WEBHOOK_SECRET = "whsec-faults-0123456789"
REPORT = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"

#: Quick timings, so that a run ends in minutes: a killed worker's message comes back after
#: ``visibility_timeout`` seconds, a claim of unknown fate is trusted for ``submit_grace``.
RUN_SETTINGS: dict[str, Any] = {
    "key_prefix": "faults",
    "queue": "bl-faults",
    "broker_key_prefix": "fk:",
    "poll_interval": 0.5,
    "poll_lease": 5.0,
    "retry_backoff": 0.2,
    "retry_backoff_max": 2.0,
    "max_retries": 20,
    "callback_max_retries": 10,
    "visibility_timeout": 30,
    "task_time_limit": 20,
    "unacked_restore_interval": 1,
    "submit_grace": 8.0,
    "provider_rate_limit": 100.0,
    "worker_concurrency": 4,
    "max_requests_per_batch": 4,
    "webhook_secret": WEBHOOK_SECRET,
}
#: The stall sweep's bound (issue 13 part 1), when this version of batchline has the sweep.
STALL_AFTER = 10.0


@dataclass(frozen=True)
class Scenario:
    """One kind of trouble, and how much of it."""

    name: str
    jobs: int = 9
    requests: int = 10
    #: Share of API calls the sandbox answers 429, 500 or 503 (a third each).
    http_error_rate: float = 0.15
    #: Seconds between worker SIGKILLs (uniform in this range); None = no worker kills.
    worker_kill_every: tuple[float, float] | None = None
    beat_kills: int = 0
    redis_kills: int = 0
    #: Times the broker's queue and unacked index are deleted while jobs run.
    message_losses: int = 0
    #: Seconds of trouble after the jobs are enqueued; then the run only waits.
    chaos_for: float = 30.0
    #: Seconds every job has to end, counted from the first enqueue.
    deadline: float = 120.0


KILLS = Scenario("kills", worker_kill_every=(3.0, 8.0), beat_kills=2, redis_kills=1)
LOST_MESSAGES = Scenario("lost-messages", message_losses=2)


@dataclass
class JobOutcome:
    job_id: str
    model: str
    state: str
    ended_after: float | None
    shards: int
    provider_batches: int
    results: int
    distinct_results: int
    requests: int
    callback_pids: list[int]
    webhooks: int

    @property
    def ended(self) -> bool:
        return self.state == JobState.CALLBACKS_DONE.value

    @property
    def duplicate_batches(self) -> int:
        return max(0, self.provider_batches - self.shards)

    @property
    def requests_once(self) -> bool:
        return self.results == self.distinct_results == self.requests


@dataclass
class RunReport:
    scenario: Scenario
    seed: int
    outcomes: list[JobOutcome]
    seconds: float
    kills: dict[str, int]
    killed_pids: set[int] = field(default_factory=set)

    def callback_ok(self, outcome: JobOutcome) -> bool:
        """Once; twice or more only when every call but the last was in a killed worker."""
        pids = outcome.callback_pids
        return len(pids) == 1 or (len(pids) > 1 and set(pids[:-1]) <= self.killed_pids)

    @property
    def stuck(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if not o.ended]

    def problems(self) -> list[str]:
        """Every broken guarantee except jobs that never ended (see ``stuck``)."""
        found: list[str] = []
        for o in self.outcomes:
            if o.duplicate_batches:
                found.append(f"{o.job_id}: {o.duplicate_batches} duplicate provider batch(es)")
            if o.ended and not o.requests_once:
                found.append(
                    f"{o.job_id}: {o.results} results, {o.distinct_results} distinct, "
                    f"{o.requests} requests"
                )
            if o.ended and not self.callback_ok(o):
                found.append(f"{o.job_id}: callback calls from PIDs {o.callback_pids}")
            if not o.ended and len(o.callback_pids) > 1:
                found.append(f"{o.job_id}: not ended, yet {len(o.callback_pids)} callback calls")
            if o.ended and o.webhooks < 1:
                found.append(f"{o.job_id}: no webhook arrived")
        return found


def run(scenario: Scenario, seed: int, sandbox: Sandbox, workdir: Path) -> RunReport:
    """Run ``scenario`` once; every process it starts is stopped before it returns."""
    rng = random.Random(seed)
    server = PrivateRedis(workdir)
    server.start()
    rate = scenario.http_error_rate / 3
    sandbox.faults = Faults(
        seed=seed, completion_delay=1.0, http_429_rate=rate, http_500_rate=rate, http_503_rate=rate
    )
    app = create_app(run_settings(server.url))
    service = Service(app.runtime.settings, sandbox.env, workdir)
    receiver = WebhookReceiver()
    killed: set[int] = set()
    try:
        with receiver.serving():
            for name in (*WORKERS, "beat"):
                service.start(name)
            service.wait_ready(WORKERS)
            started = time.monotonic()
            handles = [
                (model, enqueue(app, model, scenario.requests, receiver.url))
                for model in (MODELS[i % len(MODELS)] for i in range(scenario.jobs))
            ]
            ended_at = _chaos(scenario, rng, server, service, app, handles, killed, started)
            seconds = time.monotonic() - started
            sandbox.faults = Faults(seed=seed, completion_delay=1.0)  # the count must not fail
            outcomes = [
                outcome(app, model, handle, ended_at.get(handle.id), receiver, scenario.requests)
                for model, handle in handles
            ]
    finally:
        try:
            service.stop_all()
        finally:
            app.runtime.redis.close()
            app.close()
            server.stop()
    kills = {**service.kills, "redis": server.restarts}
    return RunReport(scenario, seed, outcomes, seconds, kills, killed)


def run_settings(redis_url: str) -> WorkerSettings:
    values = {**RUN_SETTINGS, "redis_url": redis_url}
    if "stall_after" in WorkerSettings.model_fields:
        values["stall_after"] = STALL_AFTER
    return WorkerSettings(**values)


def has_stall_sweep() -> bool:
    """Whether this batchline re-drives stalled jobs (without it, a lost message is final)."""
    return "stall_after" in WorkerSettings.model_fields


def enqueue(app: BatchlineCelery, model: str, requests: int, hook: str) -> JobHandle[Person]:
    messages = [
        [{"role": "user", "content": f"I am person {i}, {20 + i}."}] for i in range(requests)
    ]
    return enqueue_batch(model, Person, messages, callbacks=[record_call, webhook(hook)], app=app)


def _chaos(
    scenario: Scenario,
    rng: random.Random,
    server: PrivateRedis,
    service: Service,
    app: BatchlineCelery,
    handles: list[tuple[str, JobHandle[Person]]],
    killed: set[int],
    started: float,
) -> dict[str, float]:
    """Break things on schedule until the chaos window closes, watching for ended jobs until
    every job ended or the deadline passed; returns when each job was seen ended."""
    window = scenario.chaos_for
    events: list[tuple[float, str]] = []
    events += [(rng.uniform(0.2, 0.9) * window, "beat") for _ in range(scenario.beat_kills)]
    events += [(rng.uniform(0.3, 0.7) * window, "redis") for _ in range(scenario.redis_kills)]
    events += [(rng.uniform(0.1, 0.8) * window, "lose") for _ in range(scenario.message_losses)]
    if scenario.worker_kill_every:
        at = rng.uniform(*scenario.worker_kill_every)
        while at < window:
            events.append((at, rng.choice(WORKERS)))
            at += rng.uniform(*scenario.worker_kill_every)
    events.sort()
    ended: dict[str, float] = {}
    while time.monotonic() - started < scenario.deadline:
        now = time.monotonic() - started
        while events and events[0][0] <= now:
            _, what = events.pop(0)
            _break(what, server, service, app, killed)
        for _, handle in handles:
            if handle.id not in ended and _state(handle) is JobState.CALLBACKS_DONE:
                ended[handle.id] = time.monotonic() - started
        if len(ended) == len(handles) and not events:
            break
        time.sleep(0.2)
    return ended


def _break(
    what: str, server: PrivateRedis, service: Service, app: BatchlineCelery, killed: set[int]
) -> None:
    if what == "redis":
        server.restart(signal.SIGKILL)
    elif what == "lose":
        lose_messages(app)
    else:
        killed.add(service.procs[what].pid)
        service.kill(what)


def lose_messages(app: BatchlineCelery) -> int:
    """Delete every message the broker holds for batchline: the queue and the unacked index
    (kombu's keys, under batchline's broker prefix). Job records stay. Returns keys deleted."""
    settings = app.runtime.settings
    client = redis.Redis.from_url(settings.redis_url)
    try:
        prefix = settings.broker_key_prefix
        doomed = list(client.scan_iter(match=f"{prefix}{settings.queue}*"))
        doomed += [f"{prefix}unacked", f"{prefix}unacked_index"]
        return int(client.delete(*doomed))
    finally:
        client.close()


def _state(handle: JobHandle[Person]) -> JobState | None:
    try:
        return handle.status()
    except (redis.ConnectionError, redis.TimeoutError):
        return None  # Redis is restarting: look again at the next turn


def outcome(
    app: BatchlineCelery,
    model: str,
    handle: JobHandle[Person],
    ended_after: float | None,
    receiver: WebhookReceiver,
    requests: int,
) -> JobOutcome:
    summary = handle.summary()
    stored = summary.state in (JobState.RESULTS_STORED, JobState.CALLBACKS_DONE)
    results = handle.results() if stored else []
    provider = app.runtime.provider(model.partition("/")[0])
    mark = BatchMark(metadata={META_JOB: handle.id}, custom_id_prefix=f"{handle.id}-")
    batches = provider.find_marked(mark, limit=1000).matching
    pids = app.runtime.redis.lrange(
        f"{app.runtime.keys.prefix}:faults:callback-pids:{handle.id}", 0, -1
    )
    return JobOutcome(
        job_id=handle.id,
        model=model,
        state=summary.state.value,
        ended_after=ended_after,
        shards=max(len(summary.shards), -(-requests // RUN_SETTINGS["max_requests_per_batch"])),
        provider_batches=len(batches),
        results=len(results),
        distinct_results=len({r.custom_id for r in results}),
        requests=requests,
        callback_pids=[int(p) for p in pids],
        webhooks=receiver.deliveries[f"{handle.id}:1"],
    )


# -- the long form: several seeds, a report -------------------------------------------------------


def render(reports: list[RunReport]) -> str:
    """``docs/reliability.md``: what each run did to the service, and what held."""
    rows = []
    for r in reports:
        ended = [o.ended_after for o in r.outcomes if o.ended_after is not None]
        kills = ", ".join(f"{name} {count}" for name, count in sorted(r.kills.items()) if count)
        losses = r.scenario.message_losses
        last = f"{max(ended):.0f} s" if ended else "-"
        rows.append(
            f"| {r.scenario.name} | {r.seed} | {len(r.outcomes)} | "
            f"{sum(o.provider_batches for o in r.outcomes)} | "
            f"{len(r.outcomes) - len(r.stuck)} | {len(r.stuck)} | "
            f"{sum(o.duplicate_batches for o in r.outcomes)} | "
            f"{sum(1 for o in r.outcomes if o.ended and o.requests_once)} | "
            f"{sum(1 for o in r.outcomes if o.ended and r.callback_ok(o))} | "
            f"{sum(1 for o in r.outcomes if o.ended and o.webhooks >= 1)} | "
            f"{kills or '-'} | {losses or '-'} | {last} |"
        )
    stuck = [
        f"- {r.scenario.name}, seed {r.seed}: job {o.job_id} ({o.model}) stuck in `{o.state}`"
        for r in reports
        for o in r.stuck
    ]
    problems = [f"- {r.scenario.name}, seed {r.seed}: {p}" for r in reports for p in r.problems()]
    sweep = "with" if has_stall_sweep() else "without"
    rate = reports[0].scenario.http_error_rate if reports else 0.0
    return "\n".join(
        [
            "# Reliability: the fault suite's figures",
            "",
            "Written by `python -m benchmarks.faults` (see its docstring for what is checked).",
            f"This run: batchline {sweep} the stall sweep, {len(WORKERS)} worker processes and",
            "one beat process, a private redis-server with `appendonly yes`, `appendfsync",
            f"everysec`, the sandbox answering 429/500/503 on {rate:.0%} of API calls",
            "(a third each). `kills`: SIGKILLed workers, beat, and Redis (restarted from its AOF).",
            "`lost-messages`: the broker's queue and unacked index deleted while jobs run,",
            "job records kept.",
            "",
            "| scenario | seed | jobs | provider batches | ended | stuck | duplicate batches "
            "| every request once | callback once | webhook | kills | message losses "
            "| last job ended |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "## Jobs that did not end before the deadline",
            "",
            *(stuck or ["None."]),
            "",
            "## Other broken guarantees",
            "",
            *(problems or ["None."]),
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--chaos-for", type=float, default=60.0)
    parser.add_argument("--deadline", type=float, default=240.0)
    parser.add_argument("--scenario", choices=["kills", "lost-messages", "all"], default="all")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    chosen = [s for s in (KILLS, LOST_MESSAGES) if args.scenario in ("all", s.name)]
    reports = []
    with Sandbox(faults=Faults()) as sandbox, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(sandbox.env)  # this process reads the sandbox's batches too
        for seed in args.seeds:
            for base in chosen:
                scenario = Scenario(
                    **{
                        **base.__dict__,
                        "jobs": args.jobs,
                        "chaos_for": args.chaos_for,
                        "deadline": args.deadline,
                    }
                )
                workdir = Path(tmp) / f"{scenario.name}-{seed}"
                workdir.mkdir()
                report = run(scenario, seed, sandbox, workdir)
                reports.append(report)
                args.out.write_text(render(reports))  # after each run: a long form may be cut
                print(
                    f"{scenario.name} seed {seed}: {len(report.stuck)} stuck, "
                    f"{len(report.problems())} other problems, {report.seconds:.0f} s",
                    flush=True,
                )
    args.out.write_text(render(reports))
    print(f"wrote {args.out}")
    return 0 if not any(r.stuck or r.problems() for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
