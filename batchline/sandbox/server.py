"""The sandbox server: one HTTP port for OpenAI, Anthropic and Vertex AI, one for Cloud Storage.

The Cloud Storage part is ``gcp-storage-emulator`` on its own port, because
``STORAGE_EMULATOR_HOST`` must be a bare host and the emulator already speaks the resumable
upload protocol the official client uses for large files.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from batchline.ports import check_port_free
from batchline.sandbox import anthropic as anthropic_app
from batchline.sandbox import google as google_app
from batchline.sandbox import openai as openai_app
from batchline.sandbox.context import SandboxContext
from batchline.sandbox.fake_model import FakeModel, Responder
from batchline.sandbox.faults import Faults

#: Keys the sandbox hands out; any non-empty key is accepted, these are just recognisable.
OPENAI_KEY = "sk-sandbox-openai"
ANTHROPIC_KEY = "sk-ant-sandbox"
GOOGLE_TOKEN = "ya29.sandbox-token"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Sandbox:
    """A local stand-in for the three providers' batch APIs, for tests, demos and offline work.

    ``with Sandbox() as sb: os.environ.update(sb.env)`` points batchline and the official SDKs
    at it. ``sb.faults`` and ``sb.model`` can be replaced while it runs.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        gcs_port: int = 0,
        faults: Faults | None = None,
        responder: Responder | None = None,
        project: str = "batchline-sandbox",
        location: str = "us-central1",
        bucket: str = "batchline-sandbox",
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.gcs_port = gcs_port or free_port(host)
        self.project = project
        self.location = location
        self.bucket = bucket
        self.context = SandboxContext(
            faults=faults or Faults(),
            model=FakeModel(responder),
            base_url=f"http://{host}:{self.port}",
            gcs_url=f"http://{host}:{self.gcs_port}",
            gcs_project=project,
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._gcs: Any = None

    # -- knobs tests turn -------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        return self.context.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self.context.faults = value

    @property
    def model(self) -> FakeModel:
        return self.context.model

    @model.setter
    def model(self, value: FakeModel) -> None:
        self.context.model = value

    # -- addresses --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.context.base_url

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/openai/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"{self.base_url}/anthropic"

    @property
    def google_base_url(self) -> str:
        """Vertex AI endpoint root (``HttpOptions(base_url=...)``, ``GOOGLE_VERTEX_BASE_URL``)."""
        return f"{self.base_url}/google"

    @property
    def gcs_url(self) -> str:
        """Cloud Storage endpoint, as ``STORAGE_EMULATOR_HOST``."""
        return self.context.gcs_url

    @property
    def env(self) -> dict[str, str]:
        """Environment that points batchline and the official SDKs at this sandbox."""
        return {
            "OPENAI_API_KEY": OPENAI_KEY,
            "OPENAI_BASE_URL": self.openai_base_url,
            "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "ANTHROPIC_BASE_URL": self.anthropic_base_url,
            "GOOGLE_CLOUD_PROJECT": self.project,
            "GOOGLE_CLOUD_LOCATION": self.location,
            "GCS_BUCKET": self.bucket,
            "GOOGLE_VERTEX_BASE_URL": self.google_base_url,
            "GOOGLE_GENAI_USE_VERTEXAI": "true",
            "BATCHLINE_GOOGLE_ACCESS_TOKEN": GOOGLE_TOKEN,
            "STORAGE_EMULATOR_HOST": self.gcs_url,
        }

    # -- lifecycle --------------------------------------------------------------------------
    def build_app(self) -> Starlette:
        ctx = self.context
        return Starlette(
            routes=[
                Route("/healthz", _healthz),
                Mount("/openai", app=openai_app.build_app(ctx)),
                Mount("/anthropic", app=anthropic_app.build_app(ctx)),
                Mount("/google", app=google_app.build_app(ctx)),
            ]
        )

    def start(self) -> Self:
        """Start both servers in threads; ``PortInUseError`` if either port is taken."""
        from gcp_storage_emulator.server import create_server

        check_port_free(self.host, self.port, "the sandbox's provider APIs")
        check_port_free(self.host, self.gcs_port, "the sandbox's Cloud Storage")
        self._gcs = create_server(
            self.host, self.gcs_port, in_memory=True, default_bucket=self.bucket
        )
        self._gcs.start()
        config = uvicorn.Config(
            self.build_app(),
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()  # the Cloud Storage server would keep the process alive
                raise RuntimeError(f"sandbox did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._gcs is not None:
            self._gcs.stop()
        self._server = self._thread = self._gcs = None

    def serve_forever(self) -> None:
        """Run in the foreground until interrupted (the ``batchline sandbox`` command);
        starts the servers unless ``start`` already did."""
        if self._server is None:
            self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


async def _healthz(request: Any) -> JSONResponse:
    return JSONResponse({"ok": True})
