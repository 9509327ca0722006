"""Claims and locks: one string key each, taken with ``SET NX`` and released by its holder.

Submit claims (before the paid call), retry claims (one retry per job) and the poll lock are
all of this shape; compare-and-set and compare-and-delete are Lua calls, so a holder whose
claim passed to someone else can never overwrite or release it.
"""

from __future__ import annotations

from typing import Any

from batchline.workers.stores.base import RedisStore

_CAS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_CAD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class ClaimStore(RedisStore):
    """Takes, reads, swaps and releases claims."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cas = self.redis.register_script(_CAS)
        self._cad = self.redis.register_script(_CAD)

    def take(
        self, key: str, value: str, *, ttl: int | None = None, ttl_ms: int | None = None
    ) -> bool:
        """Set ``key`` to ``value`` unless it is set; ``ttl`` seconds or ``ttl_ms`` ms."""
        return bool(self.redis.set(key, value, nx=True, ex=ttl, px=ttl_ms))

    def get(self, key: str) -> str | None:
        value = self.redis.get(key)
        return None if value is None else str(value)

    def set(self, key: str, value: str, *, ttl: int | None = None) -> None:
        """Overwrite ``key`` whoever holds it (a verdict that ends the claim's story)."""
        self.redis.set(key, value, ex=ttl)

    def ttl(self, key: str) -> int:
        """Seconds ``key`` has left (negative: no TTL, or no key)."""
        return int(self.redis.ttl(key))

    def compare_and_set(self, key: str, expected: str, value: str) -> bool:
        """Set ``key`` to ``value`` only if it still holds ``expected``."""
        return bool(self._cas(keys=[key], args=[expected, value]))

    def compare_and_delete(self, key: str, expected: str) -> bool:
        """Delete ``key`` only if it still holds ``expected`` (release one's own claim/lock)."""
        return bool(self._cad(keys=[key], args=[expected]))
