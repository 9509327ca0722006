"""The state one sandbox's provider apps share: fault settings, the model, and addresses."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from batchline.sandbox.fake_model import FakeModel
from batchline.sandbox.faults import Faults


@dataclass
class SandboxContext:
    """Shared by the provider apps of one sandbox. Tests may swap ``faults`` and ``model`` live."""

    faults: Faults = field(default_factory=Faults)
    model: FakeModel = field(default_factory=FakeModel)
    #: Root URL of the sandbox (``http://127.0.0.1:PORT``), known once the server listens;
    #: Anthropic's ``results_url`` must be absolute, so apps build URLs from it.
    base_url: str = ""
    #: ``http://127.0.0.1:PORT`` of the Cloud Storage emulator the Google app reads and writes.
    gcs_url: str = ""
    gcs_project: str = "batchline-sandbox"
    #: Guards the OpenAI and Anthropic apps' records (see ``registry.Registry``).
    lock: threading.RLock = field(default_factory=threading.RLock)

    @staticmethod
    def now() -> float:
        return time.time()
