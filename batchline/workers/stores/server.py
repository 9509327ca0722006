"""What the Redis server itself says about how it keeps data: its persistence settings.

A Redis that keeps nothing on disk loses every job record on restart while the provider
batches go on running (and being paid for), so workers and beat read this at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from batchline.workers.stores.base import RedisStore


@dataclass(frozen=True, slots=True)
class Persistence:
    """The server's answer to ``CONFIG GET appendonly`` and ``CONFIG GET save``."""

    #: False when ``CONFIG`` is disabled or renamed (managed Redis): nothing could be read.
    known: bool
    appendonly: bool = False
    #: The RDB snapshot rules ("3600 1 300 100"); empty means no snapshots.
    save: str = ""
    #: Why the settings could not be read, when they could not.
    reason: str = ""

    @property
    def durable(self) -> bool:
        """True when a restart keeps the data (all of it with AOF, up to a snapshot with RDB)."""
        return self.appendonly or bool(self.save.strip())


class ServerStore(RedisStore):
    """Reads the server's own configuration."""

    def persistence(self) -> Persistence:
        try:
            appendonly = self.redis.config_get("appendonly")
            save = self.redis.config_get("save")
        except redis.ResponseError as exc:  # CONFIG disabled or renamed by the host
            return Persistence(known=False, reason=str(exc))
        return Persistence(
            known=True,
            appendonly=str(appendonly.get("appendonly", "no")).lower() == "yes",
            save=str(save.get("save", "")),
        )
