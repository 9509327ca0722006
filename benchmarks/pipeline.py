"""Part 3, pipeline: batchline's workers end to end, against the sandbox and a real Redis.

Five figures:

- enqueue to callback for one job (per provider): the time a user waits beyond the provider;
- jobs completed per minute with many small jobs and two worker processes;
- provider calls made per pending job per poll interval, with many jobs pending at once;
- the time ``enqueue_batch`` takes for a 100,000-request job (what a web handler waits);
- a 1,000,000-request enqueue streamed from a generator: time, peak RSS, Redis bytes.

The sandbox completes batches at once (``completion_delay=0``), so every second measured is
batchline's (and Redis's, and Celery's), plus the poll interval the design waits on purpose.
For the pending-calls figure the sandbox is told to keep batches running for a day instead,
so that the jobs stay pending while their polling is counted.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks.pipeline_figures import (
    EnqueueResult,
    LargeEnqueueResult,
    LatencyResult,
    PendingCallsResult,
    PipelinePlan,
    PipelineResults,
    ThroughputResult,
)
from benchmarks.service import Launcher, Service, calls_between, running_service, shard_polls

#: Receives one line of progress per step.
Progress = Callable[[str], None]

MODELS: dict[str, str] = {
    "openai": "openai/gpt-4.1-mini",
    "anthropic": "anthropic/claude-haiku-4-5",
    "google": "google/gemini-2.5-flash",
}
#: Seconds a batch stays running in the sandbox during the pending-calls measurement.
PENDING_COMPLETION_DELAY = 86_400.0


def _wait(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout:.0f} s")
        time.sleep(step)


# -- the four measurements ----------------------------------------------------------------------
def measure_enqueue(plan: PipelinePlan, sandbox: Any, progress: Progress) -> EnqueueResult:
    """``enqueue_batch`` for one large job, with the conversations already in memory (as a
    web handler holds them). No worker runs, so nothing else competes for the CPU."""
    from batchline.workers import enqueue_batch
    from benchmarks.inputs import Contact, conversations
    from benchmarks.service import delete_prefix

    messages = list(conversations(plan.enqueue_requests))
    seconds: list[float] = []
    for run in range(1, plan.enqueue_runs + 1):
        with running_service(plan, sandbox, workers=0) as service:
            start = time.perf_counter()
            enqueue_batch(MODELS["openai"], Contact, messages, app=service.app)
            seconds.append(time.perf_counter() - start)
            delete_prefix(service.config.prefix)
        progress(
            f"pipeline enqueue {plan.enqueue_requests:,} requests run {run}: "
            f"{seconds[-1] * 1000:,.0f} ms"
        )
    return EnqueueResult(plan.enqueue_requests, seconds)


def measure_large_enqueue(plan: PipelinePlan, progress: Progress) -> LargeEnqueueResult:
    """The large enqueue streamed from a generator in a fresh process (peak RSS is its own),
    and Redis bytes per stored request and per stored result."""
    from benchmarks.enqueue import measure_large_enqueue_figures

    result = measure_large_enqueue_figures(plan.large_enqueue_requests, plan.stored_results)
    progress(
        f"pipeline large enqueue {result.requests:,} requests: {result.seconds:.1f} s, peak RSS "
        f"{result.peak_rss / 2**20:,.0f} MB; Redis {result.bytes_per_request:.0f} B/request, "
        f"{result.bytes_per_result:.0f} B/result"
    )
    return result


def _enqueue(service: Service, provider: str, messages: list[Any], callback: bool) -> str:
    from batchline.workers import enqueue_batch
    from benchmarks.callbacks import record_callback_time
    from benchmarks.inputs import Contact

    callbacks = [record_callback_time] if callback else []
    return enqueue_batch(
        MODELS[provider], Contact, messages, callbacks=callbacks, app=service.app
    ).id


def measure_latency(service: Service, provider: str, progress: Progress) -> LatencyResult:
    """One job at a time, from ``enqueue_batch`` to its callback having run."""
    from batchline.workers import get_job
    from benchmarks.inputs import conversations

    plan = service.plan
    messages = list(conversations(plan.latency_requests))
    # An untimed first job: a worker's first task for a provider imports its SDK and opens
    # connections, which a running service has long done.
    warm_up = _enqueue(service, provider, messages[:10], callback=True)
    _wait(lambda: service.has_fired(warm_up), 120, f"{provider} warm-up job", step=0.05)
    totals: list[float] = []
    stages: dict[str, list[float]] = {"submit": [], "provider_and_poll": [], "results_callback": []}
    for run in range(1, plan.latency_runs + 1):
        start = time.time()
        job_id = _enqueue(service, provider, messages, callback=True)
        _wait(partial(service.has_fired, job_id), 120, f"{provider} job callback", step=0.01)
        fired = service.fired()[job_id]
        job = get_job(job_id, service.app).job()
        totals.append(fired - start)
        stages["submit"].append(job.submitted_at - start)
        stages["provider_and_poll"].append(job.finished_at - job.submitted_at)
        stages["results_callback"].append(fired - job.finished_at)
        progress(
            f"pipeline latency {provider:<9} run {run}: {totals[-1]:.2f} s (submit "
            f"{stages['submit'][-1]:.2f}, wait {stages['provider_and_poll'][-1]:.2f}, "
            f"results+callback {stages['results_callback'][-1]:.2f})"
        )
    medians = {stage: statistics.median(values) for stage, values in stages.items()}
    return LatencyResult(provider, plan.latency_requests, plan.poll_interval, totals, medians)


def measure_throughput(service: Service, progress: Progress) -> ThroughputResult:
    """Many small jobs enqueued at once; time until the last of their callbacks has run."""
    from benchmarks.inputs import conversations

    plan = service.plan
    provider = plan.throughput_provider
    messages = list(conversations(plan.throughput_job_requests))
    before = service.calls()
    start = time.time()
    job_ids = {_enqueue(service, provider, messages, True) for _ in range(plan.throughput_jobs)}
    enqueue_seconds = time.time() - start

    def ours() -> dict[str, float]:
        return {job: at for job, at in service.fired().items() if job in job_ids}

    timed_out = False
    try:
        _wait(lambda: len(ours()) >= len(job_ids), plan.throughput_timeout, "jobs", step=0.25)
    except TimeoutError:
        timed_out = True
    fired = ours()
    end = max(fired.values()) if fired else time.time()
    calls = calls_between(before, service.calls(), provider)
    result = ThroughputResult(
        provider,
        plan.throughput_jobs,
        plan.throughput_job_requests,
        plan.workers,
        len(fired),
        end - start,
        enqueue_seconds,
        calls,
        timed_out,
    )
    progress(
        f"pipeline throughput: {result.completed:,}/{result.jobs:,} jobs in "
        f"{result.seconds:.1f} s = {result.jobs_per_minute:,.0f} jobs/min"
    )
    return result


def measure_pending_calls(
    service: Service, provider: str, progress: Progress
) -> PendingCallsResult:
    """Hold ``pending_jobs`` batches running at the provider and count what polling costs."""
    from batchline.sandbox import Faults
    from benchmarks.inputs import conversations

    plan = service.plan
    runtime = service.app.runtime
    pending_key = runtime.keys.pending(provider)
    messages = list(conversations(1))
    service.sandbox.faults = Faults(completion_delay=PENDING_COMPLETION_DELAY)
    try:
        for _ in range(plan.pending_jobs):
            _enqueue(service, provider, messages, callback=False)
        _wait(
            lambda: runtime.redis.zcard(pending_key) >= plan.pending_jobs,
            300,
            f"{plan.pending_jobs} {provider} jobs submitted",
            step=0.1,
        )
        # Every shard has been polled at least once before counting starts.
        time.sleep(2 * plan.poll_interval)
        before = service.calls()
        started = time.time()
        time.sleep(plan.pending_intervals * plan.poll_interval)
        ended = time.time()
        calls = calls_between(before, service.calls(), provider)
        polled = shard_polls(service, provider, started, ended)
    finally:
        service.sandbox.faults = Faults(completion_delay=0.0)
        # These batches would run for a day: stop polling them, so they cost nothing while
        # the next provider is measured (the whole prefix is deleted at the end).
        runtime.redis.delete(pending_key)
    result = PendingCallsResult(
        provider, plan.pending_jobs, plan.pending_intervals, ended - started, calls, polled
    )
    progress(
        f"pipeline pending  {provider:<9}: {sum(calls.values()):,} calls for "
        f"{plan.pending_jobs:,} pending jobs over {plan.pending_intervals} intervals = "
        f"{result.per_job_per_interval:.3f} per job per interval {dict(calls)}; "
        f"{polled} shard polls"
    )
    return result


def run_pipeline(
    plan: PipelinePlan, progress: Progress, launcher: Launcher | None = None
) -> PipelineResults:
    """All pipeline figures: one sandbox, and one running service for everything after the
    enqueue timing (so worker start-up is paid once, and never measured). ``launcher``
    replaces the worker processes (the smoke test runs them in its own process)."""
    from batchline.config import get_settings
    from batchline.sandbox import Faults
    from benchmarks.service import CountingSandbox

    results = PipelineResults(plan)
    saved_env = dict(os.environ)
    with CountingSandbox(faults=Faults(completion_delay=0.0)) as sandbox:
        os.environ.update(sandbox.env)
        get_settings.cache_clear()
        try:
            results.enqueue = measure_enqueue(plan, sandbox, progress)
            results.large_enqueue = measure_large_enqueue(plan, progress)
            with running_service(plan, sandbox, workers=plan.workers, launcher=launcher) as service:
                for provider in plan.providers:
                    results.latency.append(measure_latency(service, provider, progress))
                results.throughput = measure_throughput(service, progress)
                for provider in plan.providers:
                    results.pending.append(measure_pending_calls(service, provider, progress))
            from benchmarks.polling_scale import measure_tick_at_default_limit

            results.scale_tick = measure_tick_at_default_limit(plan, sandbox, progress, launcher)
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
            get_settings.cache_clear()
    return results
