"""The shared rate limit's counters: provider calls per provider and window, in Redis.

One Lua script decides and counts atomically, so that two workers can never both take the
last call of a window: a call that does not fit is not counted (a waiting caller does not eat
the budget it waits for).
"""

from __future__ import annotations

from typing import Any

from batchline.workers.stores.base import RedisStore

#: Seconds a counter outlives its window (long enough for every clock's idea of "now").
COUNTER_TTL = 30

#: KEYS: the window's counter hash, the provider's "finishing work is active" marker.
#: ARGV: kind, calls, limit, submit limit, counter TTL, marker lifetime (ms).
#: A finishing call (re)arms the marker, granted or not; while it is armed, submissions may
#: only use the submit limit. A call larger than the whole limit goes alone in an empty window.
_TAKE = """
local kind = ARGV[1]
local calls = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if kind == 'finish' then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[6])
elseif redis.call('EXISTS', KEYS[2]) == 1 then
  limit = tonumber(ARGV[4])
end
local used = tonumber(redis.call('HGET', KEYS[1], 'total') or '0')
if used + calls > limit and not (used == 0 and limit >= 1) then
  redis.call('HINCRBY', KEYS[1], 'refused_' .. kind, 1)
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return 0
end
redis.call('HINCRBY', KEYS[1], 'total', calls)
redis.call('HINCRBY', KEYS[1], kind, calls)
redis.call('EXPIRE', KEYS[1], ARGV[5])
return used + calls
"""


class RateStore(RedisStore):
    """Counts provider calls per provider, window and kind of call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._take = self.redis.register_script(_TAKE)

    def take(
        self,
        provider: str,
        window: int,
        *,
        kind: str,
        calls: int,
        limit: int,
        submit_limit: int,
        finishing_ms: int,
    ) -> bool:
        """Count ``calls`` of ``kind`` in ``window`` if they fit; say whether they did."""
        keys = [self.keys.rate(provider, window), self.keys.finishing(provider)]
        args: list[str | int] = [kind, calls, limit, submit_limit, COUNTER_TTL, finishing_ms]
        return int(self._take(keys=keys, args=args)) > 0

    def used(self, provider: str, window: int) -> dict[str, int]:
        """The calls counted in ``window``, in total and by kind."""
        data = self.redis.hgetall(self.keys.rate(provider, window))
        return {str(name): int(value) for name, value in data.items()}
