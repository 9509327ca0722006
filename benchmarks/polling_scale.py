"""Polling at scale, at the product's defaults: one poll tick over many pending jobs with the
default rate limit and the default 30 s interval.

Workers with the lifted sandbox limit submit the jobs (their beat polls meanwhile, which does
not matter) (the sandbox keeps their batches running
for a day); then they stop, every pending shard is made due, and one tick runs in this process
with the production settings (``BATCHLINE_PROVIDER_RATE_LIMIT`` unset, so the provider's
documented default). The tick must poll every job within its interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks.pipeline_figures import PRODUCT_INTERVAL, PipelinePlan, TickResult
from benchmarks.service import Launcher


def measure_tick_at_default_limit(
    plan: PipelinePlan,
    sandbox: Any,
    progress: Callable[[str], None],
    launcher: Launcher | None = None,
    provider: str = "openai",
) -> TickResult:
    from batchline.sandbox import Faults
    from batchline.workers import enqueue_batch
    from batchline.workers.app import create_app
    from batchline.workers.polling import poll_provider
    from batchline.workers.runtime import Runtime
    from batchline.workers.settings import WorkerSettings
    from benchmarks.inputs import Contact, conversations
    from benchmarks.pipeline import MODELS, PENDING_COMPLETION_DELAY
    from benchmarks.service import ServiceConfig, calls_between, delete_prefix, worker_processes

    count = plan.scale_pending_jobs
    config = ServiceConfig.fresh(plan.poll_interval, plan.rate_limit)
    app = create_app(WorkerSettings(**config.settings_values()))
    pending_key = app.runtime.keys.pending(provider)
    sandbox.faults = Faults(completion_delay=PENDING_COMPLETION_DELAY)
    try:
        messages = list(conversations(1))
        with (launcher or worker_processes)(app, config, sandbox.env, plan.workers):
            for _ in range(count):
                enqueue_batch(MODELS[provider], Contact, messages, app=app)
            deadline = time.monotonic() + 900
            while app.runtime.redis.zcard(pending_key) < count:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{count} {provider} jobs not submitted after 900 s")
                time.sleep(0.5)
        product = WorkerSettings(
            **{
                **config.settings_values(),
                "provider_rate_limit": None,
                "poll_interval": PRODUCT_INTERVAL,
                "poll_lease": 300.0,
            }
        )
        runtime = Runtime(product)
        members = app.runtime.redis.zrange(pending_key, 0, -1)
        app.runtime.redis.zadd(pending_key, {str(m): 0 for m in members})
        before = sandbox.counter.snapshot()
        started = time.perf_counter()
        report = poll_provider(runtime, provider)
        seconds = time.perf_counter() - started
        calls = calls_between(before, sandbox.counter.snapshot(), provider)
        runtime.redis.close()
    finally:
        sandbox.faults = Faults(completion_delay=0.0)
        app.runtime.redis.close()
        delete_prefix(config.prefix)
    result = TickResult(
        provider, count, report.due, calls, seconds, runtime.limiter.limit(provider)
    )
    progress(
        f"pipeline tick at the default limit, {provider}: {result.polled:,}/{count:,} jobs polled "
        f"in {seconds:.1f} s with {sum(calls.values()):,} calls {calls}"
    )
    return result


if __name__ == "__main__":
    import os
    import sys

    from batchline.config import get_settings
    from batchline.sandbox import Faults
    from benchmarks.service import CountingSandbox

    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    plan = PipelinePlan(scale_pending_jobs=jobs)
    with CountingSandbox(faults=Faults(completion_delay=0.0)) as box:
        os.environ.update(box.env)
        get_settings.cache_clear()
        measure_tick_at_default_limit(plan, box, print)
