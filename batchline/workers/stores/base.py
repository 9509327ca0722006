"""What every store shares: the client, the keys, and pipelines that span stores."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeAlias

import redis

from batchline.workers.keys import Keys

#: A non-transactional pipeline: several stores' writes sent in one round trip.
Pipeline: TypeAlias = "redis.client.Pipeline"


class RedisStore:
    """A store over one Redis client (thread-safe, as a redis-py client is)."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys

    @contextmanager
    def batch(self) -> Iterator[Pipeline]:
        """A pipeline for writes of several stores (pass it as their ``pipe``), sent when the
        block ends without an error."""
        pipe = self.redis.pipeline(transaction=False)
        yield pipe
        pipe.execute()


def strings(data: Mapping[Any, Any]) -> dict[str, str]:
    """A hash as ``str -> str`` (the client decodes responses; this tells the type checker)."""
    return {str(key): str(value) for key, value in data.items()}


def mapping(values: dict[str, str]) -> Mapping[Any, Any]:
    """redis-py's stubs want a mapping over every key type they accept; ours are all str."""
    return values
