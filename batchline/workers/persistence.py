"""Refusing a Redis that keeps nothing on disk, loudly, when workers and beat start.

The job records are the source of truth (the sweep re-drives jobs from them), so a Redis that
loses them on restart loses every job in flight while its provider batches keep running and
are paid for, with nothing left to find them by but ``batchline jobs orphans``. Many hosts run
Redis that way by default. Workers and beat therefore read ``CONFIG GET appendonly`` and
``save`` at start-up and refuse to start on a volatile Redis unless
``BATCHLINE_ALLOW_VOLATILE_REDIS=1`` says that is meant (tests, ``batchline demo``). A Redis
whose ``CONFIG`` is disabled (managed services) cannot be checked: that is said, and allowed.
"""

from __future__ import annotations

import logging

from batchline.errors import VolatileRedisError
from batchline.workers.runtime import Runtime
from batchline.workers.stores.connection import redacted

logger = logging.getLogger("batchline.workers")


def check_persistence(rt: Runtime, role: str) -> str:
    """Check the Redis of ``rt`` before ``role`` ("worker", "beat") starts; return the line
    logged. Raises ``VolatileRedisError`` on a volatile Redis that the settings do not allow."""
    found = rt.server.persistence()
    where = redacted(rt.settings.redis_url)  # never log a password in the URL
    if not found.known:
        line = (
            f"batchline {role}: Redis persistence could not be verified at {where} "
            f"(CONFIG GET refused: {found.reason}); make sure it keeps AOF or RDB on disk"
        )
        logger.warning(line)
        return line
    if found.appendonly:
        line = f"batchline {role}: Redis at {where} keeps an append-only file"
        logger.info(line)
        return line
    if found.durable:
        line = (
            f"batchline {role}: Redis at {where} keeps only RDB snapshots ({found.save}); a "
            "crash loses the writes since the last one (appendonly yes keeps them)"
        )
        logger.warning(line)
        return line
    line = (
        f'batchline {role}: Redis at {where} keeps nothing on disk (appendonly no, save ""): '
        "a restart loses every job record while its provider batches keep running"
    )
    if not rt.settings.allow_volatile_redis:
        raise VolatileRedisError(
            f"{line}; turn on appendonly, or set BATCHLINE_ALLOW_VOLATILE_REDIS=1 to accept it"
        )
    logger.warning("%s (allowed by BATCHLINE_ALLOW_VOLATILE_REDIS)", line)
    return line
