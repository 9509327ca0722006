"""batchline: large LLM jobs through the providers' batch APIs, reliably and at half price."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "enqueue_batch"]


def __getattr__(name: str) -> Any:
    # The workers import Celery; keep ``import batchline`` (and the library) free of it.
    if name == "enqueue_batch":
        from batchline.workers.api import enqueue_batch

        return enqueue_batch
    raise AttributeError(name)
