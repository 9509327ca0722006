"""The pipeline part's plan (what to run) and its figures (what was measured)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PipelinePlan:
    providers: tuple[str, ...] = ("openai", "anthropic", "google")
    #: Poll interval the workers run with (the product default is 30 s; a short one keeps the
    #: run short, and every figure below is reported relative to it).
    poll_interval: float = 1.0
    #: Provider calls per second the workers allow themselves. The product default (5/s) is
    #: for real providers; against the sandbox it would only measure the limiter.
    rate_limit: float = 1_000.0
    workers: int = 2
    latency_requests: int = 1_000
    latency_runs: int = 3
    throughput_provider: str = "openai"
    throughput_jobs: int = 1_000
    throughput_job_requests: int = 10
    #: Give up waiting for the throughput run after this long and report what completed.
    throughput_timeout: float = 900.0
    pending_jobs: int = 1_000
    #: Poll intervals over which calls to pending jobs are counted.
    pending_intervals: int = 10
    enqueue_requests: int = 100_000
    enqueue_runs: int = 3
    #: Pending jobs one tick polls at the product's default rate limit and 30 s interval.
    scale_pending_jobs: int = 10_000
    #: Requests of the large enqueue (streamed from a generator, measured in its own process).
    large_enqueue_requests: int = 1_000_000
    #: Results written to measure Redis bytes per stored result.
    stored_results: int = 100_000

    @classmethod
    def quick(cls) -> PipelinePlan:
        return cls(
            latency_requests=100,
            latency_runs=1,
            throughput_jobs=50,
            pending_jobs=50,
            pending_intervals=3,
            enqueue_requests=10_000,
            enqueue_runs=1,
            large_enqueue_requests=20_000,
            scale_pending_jobs=200,
            stored_results=5_000,
            throughput_timeout=120.0,
        )


@dataclass(slots=True)
class LatencyResult:
    provider: str
    requests: int
    poll_interval: float
    #: Seconds from calling ``enqueue_batch`` to the callback running, one per run.
    totals: list[float]
    #: Median seconds of each stage: enqueue -> submitted, submitted -> ended (seen by a poll),
    #: ended -> callback ran.
    stages: dict[str, float]

    @property
    def median(self) -> float:
        return statistics.median(self.totals)

    @property
    def overhead(self) -> float:
        """What the target limits: the median beyond one poll interval."""
        return self.median - self.poll_interval


@dataclass(slots=True)
class ThroughputResult:
    provider: str
    jobs: int
    requests_per_job: int
    workers: int
    completed: int
    seconds: float
    enqueue_seconds: float
    calls: dict[str, int]
    timed_out: bool

    @property
    def jobs_per_minute(self) -> float:
        return self.completed / self.seconds * 60 if self.seconds > 0 else 0.0

    @property
    def calls_per_job(self) -> float:
        return sum(self.calls.values()) / self.completed if self.completed else 0.0


@dataclass(slots=True)
class PendingCallsResult:
    provider: str
    pending_jobs: int
    intervals: int
    window_seconds: float
    calls: dict[str, int]
    #: Shards the poll ticks finished in the window handled (from the ticks' own reports),
    #: or None when the reports could not be read.
    shard_polls: int | None = None

    @property
    def per_job_per_interval(self) -> float:
        return sum(self.calls.values()) / (self.pending_jobs * self.intervals)

    @property
    def polls_per_job_per_interval(self) -> float | None:
        """1.0 when every pending job was checked once per interval; lower means the poll
        interval was not kept (the ticks could not get through every due job)."""
        if self.shard_polls is None:
            return None
        return self.shard_polls / (self.pending_jobs * self.intervals)

    @property
    def calls_per_poll(self) -> float | None:
        """Provider calls per shard actually polled: the cost of one check of one job."""
        if not self.shard_polls:
            return None
        return sum(self.calls.values()) / self.shard_polls


@dataclass(slots=True)
class EnqueueResult:
    requests: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass(slots=True)
class LargeEnqueueResult:
    requests: int
    seconds: float
    peak_rss: int
    baseline_rss: int
    #: Redis bytes of the job's request list (``MEMORY USAGE``), and of one stored result.
    redis_bytes: int
    bytes_per_result: float

    @property
    def bytes_per_request(self) -> float:
        return self.redis_bytes / self.requests if self.requests else 0.0


#: The product's poll interval: the scale tick is about keeping it.
PRODUCT_INTERVAL = 30.0


@dataclass(slots=True)
class TickResult:
    provider: str
    pending_jobs: int
    #: Shards the tick polled, and the provider calls it made.
    polled: int
    calls: dict[str, int]
    seconds: float
    rate_limit: float

    @property
    def calls_per_job(self) -> float:
        return sum(self.calls.values()) / self.pending_jobs if self.pending_jobs else 0.0

    @property
    def kept_interval(self) -> bool:
        return self.polled >= self.pending_jobs and self.seconds < PRODUCT_INTERVAL


@dataclass(slots=True)
class PipelineResults:
    plan: PipelinePlan
    enqueue: EnqueueResult | None = None
    large_enqueue: LargeEnqueueResult | None = None
    #: One tick over ``scale_pending_jobs`` at the default limit (``benchmarks.polling_scale``).
    scale_tick: TickResult | None = None
    latency: list[LatencyResult] = field(default_factory=list)
    throughput: ThroughputResult | None = None
    pending: list[PendingCallsResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
