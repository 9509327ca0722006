"""The shared per-provider rate limit, counted in real Redis."""

from __future__ import annotations

import time

import redis

from batchline.workers.keys import Keys
from batchline.workers.ratelimit import CallKind, RateLimiter, default_rate
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
    assert int(redis_client.hget(Keys(prefix).rate("anthropic", window), "total") or 0) == 3


def test_providers_have_separate_limits(redis_client: redis.Redis, prefix: str) -> None:
    limiter = RateLimiter(RateStore(redis_client, Keys(prefix)), per_second=1)
    wait_for_second_start()
    window = int(time.time())

    limiter.acquire("openai")
    limiter.acquire("google")

    assert int(time.time()) == window


def test_while_jobs_are_finishing_submissions_leave_them_their_share(
    redis_client: redis.Redis, prefix: str
) -> None:
    limiter = RateLimiter(RateStore(redis_client, Keys(prefix)), per_second=5, finish_share=0.4)
    wait_for_second_start()
    window = int(time.time())

    assert limiter.acquire("openai", kind=CallKind.FINISH)  # a poll: finishing work is active
    assert limiter.acquire("openai", kind=CallKind.SUBMIT, calls=2)  # upload + create
    # 3 of 5 used: submissions may use 5 - 2 reserved, so the next one does not fit ...
    assert not limiter.acquire("openai", kind=CallKind.SUBMIT, calls=1, max_wait=0)
    # ... while finishing calls still get the last two slots of the same second.
    assert limiter.acquire("openai", kind=CallKind.FINISH)
    assert limiter.acquire("openai", kind=CallKind.FINISH)
    assert int(time.time()) == window
    used = RateStore(redis_client, Keys(prefix)).used("openai", window)
    assert used == {"total": 5, "finish": 3, "submit": 2, "refused_submit": 1}


def test_with_nothing_finishing_submissions_use_the_whole_budget(
    redis_client: redis.Redis, prefix: str
) -> None:
    limiter = RateLimiter(RateStore(redis_client, Keys(prefix)), per_second=5, finish_share=0.4)
    wait_for_second_start()

    granted = [limiter.acquire("openai", kind=CallKind.SUBMIT, max_wait=0) for _ in range(6)]

    assert granted == [True] * 5 + [False]


def test_each_provider_defaults_to_its_documented_limit(
    redis_client: redis.Redis, prefix: str
) -> None:
    limiter = RateLimiter(RateStore(redis_client, Keys(prefix)), per_second=None)

    assert limiter.limit("openai") == default_rate("openai") == 5.0
    # Anthropic's 50 requests a minute: under one a second, so counted over ten-second windows.
    assert limiter.budget("anthropic") == (10.0, 8, 4)
    assert limiter.budget("google") == (1.0, 1, 1)
