"""A minimal webhook receiver: it accepts only deliveries signed with the workers' secret.

Real apps do the same check in their web framework's handler, on the raw request body.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from batchline.workers import verify_signature


class WebhookReceiver:
    """Listens on ``port`` in a thread; ``deliveries`` maps job id to the summaries received."""

    def __init__(self, secret: str, port: int) -> None:
        self.deliveries: dict[str, list[dict[str, Any]]] = {}
        self.rejected = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                signature = self.headers.get("X-Batchline-Signature")
                timestamp = self.headers.get("X-Batchline-Timestamp")
                if not verify_signature(secret, body, signature, timestamp):
                    receiver.rejected += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                job = json.loads(body)["job"]
                receiver.deliveries.setdefault(job["id"], []).append(job)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
