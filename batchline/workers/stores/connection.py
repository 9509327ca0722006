"""Reaching Redis at all: a quick client and a check that the URL parses and answers.

Commands that need Redis ask first, so a typo or a stopped server is one line naming it:
redis-py and Celery would otherwise answer with a long traceback, and a worker or beat would
retry the connection forever.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from batchline.errors import ConfigurationError, ServiceUnavailableError


def check_redis(url: str | None = None) -> str:
    """``url`` (default ``REDIS_URL``) once it has answered one PING.

    Raises:
        ConfigurationError: the URL is malformed.
        ServiceUnavailableError: nothing answers there.
    """
    if url is None:
        from batchline.config import Settings

        url = Settings().redis_url
    client = quick_client(url)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise ServiceUnavailableError(
            f"Redis is not answering at {redacted(url)} ({exc}); start it, or set REDIS_URL"
        ) from None
    finally:
        client.close()
    return url


def quick_client(url: str) -> redis.Redis:
    """A client for one quick question (no retries, 2 s timeouts), or ``ConfigurationError``
    when ``url`` does not parse as a Redis URL."""
    try:
        return redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=2, retry=Retry(NoBackoff(), 0)
        )
    except ValueError as exc:
        raise ConfigurationError(f"REDIS_URL {redacted(url)!r} is malformed: {exc}") from None


def redacted(url: str) -> str:
    """``url`` with its password hidden: error lines end up in logs other people read."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url.split("@", 1)[-1] if "@" in url else url
    if not password:
        return url
    return url.replace(f":{password}@", ":***@", 1)
