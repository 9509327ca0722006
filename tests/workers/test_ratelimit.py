"""The shared per-provider rate limit, counted in real Redis."""

from __future__ import annotations

import time

import redis

from batchline.workers.keys import Keys
from batchline.workers.ratelimit import RateLimiter
from batchline.workers.stores.rates import RateStore


def wait_for_second_start() -> None:
    """Start just after a wall-clock second begins, so a test's calls share one window."""
    now = time.time()
    time.sleep(int(now) + 1 - now + 0.01)


def test_calls_beyond_the_limit_wait_for_the_next_second(
    redis_client: redis.Redis, prefix: str
) -> None:
    limiter = RateLimiter(RateStore(redis_client, Keys(prefix)), per_second=3)
    wait_for_second_start()
    window = int(time.time())
    for _ in range(3):
        limiter.acquire("openai")
    assert int(time.time()) == window

    limiter.acquire("openai")

    assert int(time.time()) > window


def test_a_call_worth_two_takes_two_slots(redis_client: redis.Redis, prefix: str) -> None:
    limiter = RateLimiter(RateStore(redis_client, Keys(prefix)), per_second=3)
    wait_for_second_start()
    window = int(time.time())
    limiter.acquire("anthropic", calls=2)
    limiter.acquire("anthropic")
    assert int(time.time()) == window

    limiter.acquire("anthropic", calls=2)

    assert int(time.time()) > window
    assert int(redis_client.get(Keys(prefix).rate("anthropic", window)) or 0) >= 3


def test_providers_have_separate_limits(redis_client: redis.Redis, prefix: str) -> None:
    limiter = RateLimiter(RateStore(redis_client, Keys(prefix)), per_second=1)
    wait_for_second_start()
    window = int(time.time())

    limiter.acquire("openai")
    limiter.acquire("google")

    assert int(time.time()) == window
