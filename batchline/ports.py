"""Listening ports: a taken one is a clear error before a server starts, not after."""

from __future__ import annotations

import socket

from batchline.errors import PortInUseError


def check_port_free(host: str, port: int, what: str) -> None:
    """Bind ``host:port`` once and let go, so a taken port is one clear error before anything
    starts. (uvicorn would log a traceback and exit its thread, leaving the Cloud Storage
    server running and the process hanging.)

    Raises:
        PortInUseError: the port is taken (or the address cannot be bound).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The same option uvicorn sets, so a port in TIME_WAIT is not mistaken for a taken one.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                f"cannot listen on {host}:{port} for {what}: {exc.strerror or exc}; "
                "stop what uses it or choose another port"
            ) from None
