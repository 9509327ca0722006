"""Anthropic's Message Batches API, as the official SDK sees it.

Mounted at ``/anthropic``, so ``Anthropic(base_url=sb.anthropic_base_url)`` reaches
``/anthropic/v1/messages/batches``. ``batches`` holds the routes, ``requests`` the checks made
at creation, ``answers`` and ``results`` what an ended batch writes, ``records`` what the app
keeps.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from batchline.sandbox.anthropic.batches import BATCH_LIFETIME, BatchesApi
from batchline.sandbox.anthropic.errors import error, fault_response, request_id, unauthenticated
from batchline.sandbox.anthropic.records import Limits, Store
from batchline.sandbox.anthropic.requests import CUSTOM_ID
from batchline.sandbox.context import SandboxContext
from batchline.sandbox.wire import provider_app

#: Anthropic's per-batch limits. Read at every create call (``limits``), so a test can lower
#: them here with ``monkeypatch.setattr``.
MAX_REQUESTS = 100_000
MAX_BODY_BYTES = 256 * 1024 * 1024

__all__ = [
    "BATCH_LIFETIME",
    "CUSTOM_ID",
    "MAX_BODY_BYTES",
    "MAX_REQUESTS",
    "build_app",
    "error",
    "limits",
]


def limits() -> Limits:
    """The limits as this module holds them now."""
    return Limits(MAX_REQUESTS, MAX_BODY_BYTES)


def build_app(ctx: SandboxContext) -> Starlette:
    """The Anthropic app; its routes share one ``Store`` of message batches."""
    batches = BatchesApi(Store(ctx, limits))
    routes = [
        Route("/v1/messages/batches", batches.create, methods=["POST"]),
        Route("/v1/messages/batches", batches.list, methods=["GET"]),
        Route("/v1/messages/batches/{batch_id}", batches.get, methods=["GET"]),
        Route("/v1/messages/batches/{batch_id}", batches.delete, methods=["DELETE"]),
        Route("/v1/messages/batches/{batch_id}/cancel", batches.cancel, methods=["POST"]),
        Route("/v1/messages/batches/{batch_id}/results", batches.results, methods=["GET"]),
    ]
    return provider_app(
        ctx,
        routes,
        unauthenticated=unauthenticated,
        fault_response=fault_response,
        id_header="request-id",
        new_id=request_id,
    )
