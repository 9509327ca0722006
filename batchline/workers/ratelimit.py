"""A per-provider rate limit shared by every worker, counted in Redis, that puts work which
finishes jobs before new submissions.

**Two kinds of call.** ``FINISH`` calls (status polls, list pages, result downloads,
cancels) move jobs that are already running at the provider towards their callbacks;
``SUBMIT`` calls (upload and create of a new batch, and the lookups of reconciliation) start
new ones. Both count against one budget per provider and window, because the provider's own
limit does not care why a call was made. While any finishing call has been made or asked for in
the last two windows, submissions may only use ``1 - finish_share`` of each window: the rest is
kept for finishing work. When nothing is finishing, submissions use the whole budget. So a
backlog of new jobs can slow other new jobs, never running ones: a finishing call waits at most
for the current window to end.

**Every HTTP call counts**: an OpenAI or Vertex submission is two (upload, create), a list call
one per page, a result download two (the batch, then its file).

A fixed window (one second, or ten for limits under one call a second) is coarse but cannot
drift between processes, and the limit exists to stay under a provider's 429 threshold, not to
shape traffic precisely.
"""

from __future__ import annotations

import math
import random
import time
from enum import StrEnum

from batchline.batching.providers import provider_class
from batchline.workers.stores.rates import RateStore


class CallKind(StrEnum):
    """Why a provider call is made, which decides its place in the budget."""

    #: Polls, list pages, result downloads, cancels: work that ends jobs already running.
    FINISH = "finish"
    #: Uploads and creates of new batches (and reconciliation's lookups before one).
    SUBMIT = "submit"


def default_rate(provider: str) -> float:
    """Calls per second ``provider`` is allowed when no limit is set: its documented figure
    (``ProviderLimits.calls_per_second``)."""
    return provider_class(provider).limits.calls_per_second


def submit_calls(provider: str) -> int:
    """HTTP calls one submission to ``provider`` makes."""
    return provider_class(provider).limits.submit_calls


def list_pages(limit: int, page_size: int) -> int:
    """HTTP calls a list of ``limit`` batches costs at ``page_size`` batches a page."""
    return max(1, math.ceil(limit / max(page_size, 1)))


class RateLimiter:
    """Blocks a caller until its provider calls fit that provider's budget (see the module
    docstring for how finishing work comes before submissions)."""

    def __init__(
        self, counters: RateStore, per_second: float | None, *, finish_share: float = 0.4
    ) -> None:
        self.counters = counters
        #: One limit for every provider, or None for each provider's documented default.
        self.per_second = per_second
        self.finish_share = finish_share

    def limit(self, provider: str) -> float:
        """Calls per second allowed to ``provider`` (0 or less: unlimited)."""
        if self.per_second is not None:
            return self.per_second
        return default_rate(provider)

    def budget(self, provider: str) -> tuple[float, int, int]:
        """``(window seconds, calls per window, calls per window submissions may use while
        finishing work is active)``."""
        rate = self.limit(provider)
        window = 1.0 if rate >= 1 else 10.0
        calls = max(1, math.floor(rate * window))
        reserved = min(calls - 1, math.ceil(calls * self.finish_share))
        return window, calls, calls - reserved

    def acquire(
        self,
        provider: str,
        *,
        kind: CallKind = CallKind.FINISH,
        calls: int = 1,
        max_wait: float = 60.0,
    ) -> bool:
        """Wait for room for ``calls`` calls of ``kind``; True once they are counted.

        After ``max_wait`` seconds this returns False uncounted. A finishing caller goes ahead
        anyway (the provider's own 429 handling is the backstop) rather than stall a job; a
        submission gives its worker thread back and tries again later.
        """
        if self.limit(provider) <= 0:
            return True
        window, allowed, submit_allowed = self.budget(provider)
        finishing_ms = int(2 * window * 1000)
        deadline = time.monotonic() + max_wait
        while True:
            now = time.time()
            index = int(now // window)
            if self.counters.take(
                provider,
                index,
                kind=kind.value,
                calls=calls,
                limit=allowed,
                submit_limit=submit_allowed,
                finishing_ms=finishing_ms,
            ):
                return True
            wait = (index + 1) * window - now + 0.001
            if time.monotonic() + wait > deadline:
                return False
            time.sleep(wait)

    def submit_backoff(self, provider: str, calls: int) -> float:
        """Seconds a refused submission should wait before it tries again: past the
        submissions refused before it in this window, at the rate submissions get through,
        with jitter, so that a backlog of thousands retries a few at a time, roughly in order.
        """
        window, _, submit_allowed = self.budget(provider)
        index = int(time.time() // window)
        refused = self.counters.used(provider, index).get("refused_submit", 1)
        per_second = max(submit_allowed / max(calls, 1), 1.0) / window
        return window + random.uniform(0.5, 1.0) * refused / per_second
