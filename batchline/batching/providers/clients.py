"""The SDK clients of provider accounts, one per account per process."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

_ClientT = TypeVar("_ClientT")
_CLIENTS: dict[tuple[Any, ...], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def shared_client(key: tuple[Any, ...], build: Callable[[], _ClientT]) -> _ClientT:
    """One SDK client per account per process, whatever the number of models and response
    models in use: every client holds its own connection pool.

    ``key`` names the account (the provider and every setting the client is built from). The
    process id is part of the key, so a forked worker never shares its parent's sockets.
    """
    full_key = (os.getpid(), *key)
    with _CLIENTS_LOCK:
        found = _CLIENTS.get(full_key)
        if found is None:
            found = _CLIENTS[full_key] = build()
    client: _ClientT = found
    return client
