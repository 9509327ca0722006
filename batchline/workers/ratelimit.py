"""A per-provider rate limit shared by every worker, counted in Redis.

A fixed one-second window is coarse but cannot drift between processes, and the limit exists
to stay under a provider's 429 threshold, not to shape traffic precisely.
"""

from __future__ import annotations

import math
import time

from batchline.workers.stores.rates import RateStore


class RateLimiter:
    """Blocks a caller until its provider call fits in ``per_second`` calls a second."""

    def __init__(self, counters: RateStore, per_second: float) -> None:
        self.counters = counters
        self.per_second = per_second

    def acquire(self, provider: str, *, calls: int = 1, max_wait: float = 60.0) -> None:
        """Wait for room for ``calls`` calls; after ``max_wait`` seconds go ahead anyway (the
        provider's own 429 handling is the backstop) rather than stall a task forever."""
        if self.per_second <= 0:
            return
        allowed = max(calls, math.floor(self.per_second))
        deadline = time.monotonic() + max_wait
        while True:
            now = time.time()
            second = int(now)
            used = self.counters.add(provider, second, calls)
            if used <= allowed or time.monotonic() > deadline:
                return
            time.sleep(second + 1 - now + 0.001)
