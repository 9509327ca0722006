"""Each callback's bookkeeping in Redis: its marker, its recorded state, and who ended.

The marker is ``running:<task>`` while a task owns the callback, then ``done:<time>`` or
``failed:<time>``; the first task to ``SET ... NX`` it owns the callback.
"""

from __future__ import annotations

from typing import Any

import orjson

from batchline.workers import codec
from batchline.workers.callbackspec import CallbackStatus
from batchline.workers.stores.base import RedisStore

_CAD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class CallbackStore(RedisStore):
    """Markers, states and the finished set of jobs' callbacks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cad = self.redis.register_script(_CAD)

    def take(self, job_id: str, index: int, owner: str) -> bool:
        """Claim callback ``index`` for ``owner`` unless a task claimed it already."""
        return bool(self.redis.set(self.keys.callback_marker(job_id, index), owner, nx=True))

    def marker(self, job_id: str, index: int) -> str:
        return str(self.redis.get(self.keys.callback_marker(job_id, index)) or "")

    def release(self, job_id: str, index: int, owner: str) -> bool:
        """Drop the marker if it is still ``owner`` (a task whose message was lost)."""
        key = self.keys.callback_marker(job_id, index)
        return bool(self._cad(keys=[key], args=[owner]))

    def mark(self, job_id: str, index: int, value: str) -> None:
        self.redis.set(self.keys.callback_marker(job_id, index), value)

    def record(self, job_id: str, index: int, status: CallbackStatus) -> None:
        """Keep the callback's state, attempts and last error (for summaries and the CLI)."""
        self.redis.hset(self.keys.callbacks(job_id), str(index), codec.encode_value(status))

    def states(self, job_id: str) -> list[CallbackStatus]:
        """Each callback's recorded state, in order."""
        raw = self.redis.hgetall(self.keys.callbacks(job_id))
        return [
            codec.from_plain(CallbackStatus, orjson.loads(raw[key])) for key in sorted(raw, key=int)
        ]

    def finished(self, job_id: str) -> set[int]:
        """The indexes of the callbacks that ended (done or given up)."""
        return {int(index) for index in self.redis.smembers(self.keys.callbacks_finished(job_id))}

    def finish(self, job_id: str, index: int) -> int:
        """Record that callback ``index`` ended; return how many have."""
        key = self.keys.callbacks_finished(job_id)
        self.redis.sadd(key, str(index))
        return int(self.redis.scard(key))

    def expire(self, job_id: str, count: int, ttl: int) -> None:
        """Once every callback ended, their bookkeeping lives as long as the results."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.expire(self.keys.callbacks_finished(job_id), ttl)
        pipe.expire(self.keys.callbacks(job_id), ttl)
        for index in range(count):
            pipe.expire(self.keys.callback_marker(job_id, index), ttl)
        pipe.execute()
