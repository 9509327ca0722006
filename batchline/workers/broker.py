"""kombu's Redis transport, made to survive a Redis restart under running tasks.

With kombu 5.7.0 (the latest release, checked 2026-12-02 on PyPI) a worker that holds
unacknowledged messages when Redis goes away dies with ``Unrecoverable error:
AttributeError("'NoneType' object has no attribute 'hostname'")`` (kombu #582 and #970, both
closed without a fix for this path). Celery's consumer first *collects* the broken connection,
which detaches the transport from its ``Connection`` (``transport.client = None``), then closes
it; closing the channel restores its unacknowledged messages, which needs a new Redis pool,
whose parameters are read from the detached ``client``. The ``AttributeError`` is not a
connection error, so it escapes Celery's ``ignore_errors`` and stops the worker.

Restoring at that moment is wrong anyway: those messages belong to tasks that are still running
in this process (Celery lets them finish after a connection loss), so putting them back in the
queue while Redis is reachable makes a second worker run them at the same time (a callback fired
twice), and while Redis is down it cannot work. This transport changes two things and nothing
else:

- a channel whose connection was lost leaves its unacknowledged messages where kombu already
  put them, in Redis's unacked index: the running task acknowledges its message when it ends,
  and a message whose task never ends comes back after the visibility timeout, like any
  message of a dead worker;
- a channel keeps the Redis connection parameters it was opened with, so that those late
  acknowledgements (and anything else it still does) can reach Redis once it is back.

It is selected with Celery's ``broker_transport`` setting (see ``appbase.celery_config``);
``tests/workers/test_redis_restart.py`` restarts a real redis-server under live workers.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)


class QoS(kombu_redis.QoS):  # type: ignore[misc]
    """kombu's Redis QoS, except that a lost connection restores nothing (see the module)."""

    def restore_unacked(self, client: Any = None) -> None:
        if getattr(self.channel, "connection_lost", False):
            if self._delivered:
                logger.warning(
                    "broker connection lost: %d unacknowledged message(s) stay in Redis's "
                    "unacked index; their tasks acknowledge them when they end, or Redis "
                    "redelivers them after the visibility timeout",
                    len(self._delivered),
                )
            self._delivered.clear()
            return
        super().restore_unacked(client)


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    """kombu's Redis channel that remembers how to reach Redis after its transport is gone."""

    QoS = QoS
    #: Set when the connection was lost under this channel (by ``Transport._collect``).
    connection_lost = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._known_connparams: dict[bool, dict[str, Any]] = {}
        super().__init__(*args, **kwargs)

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        known = self._known_connparams.get(asynchronous)
        if (transport is None or transport.client is None) and known is not None:
            return dict(known)
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)
        self._known_connparams[asynchronous] = dict(params)
        return params


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    """kombu's Redis transport with the channel above; ``collect`` marks its channels lost.

    kombu's ``Connection.collect`` (what Celery calls on a connection error) uses a transport's
    ``_collect`` when it has one, instead of closing the channels the ordinary way.
    """

    Channel = Channel

    def _collect(self, connection: Any) -> None:
        for channel in list(self.channels):
            channel.connection_lost = True
            try:
                channel.close()
            except Exception:
                logger.debug("closing a channel of a lost broker connection", exc_info=True)
