"""OpenAI's Files and Batch APIs for ``/v1/chat/completions``, as the official SDK sees them.

Mounted at ``/openai``, so ``OpenAI(base_url=sb.openai_base_url)`` reaches ``/openai/v1/...``.
Files live on disk (``Spool``); a batch keeps only its input's line offsets and output order,
and writes its output once, line by line, when a client first sees it ended.

``files`` and ``batches`` hold the two route families, ``validation`` the input checks,
``answers`` and ``results`` what a batch writes, ``records`` what the app keeps.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from batchline.sandbox.context import SandboxContext
from batchline.sandbox.ids import random_hex
from batchline.sandbox.openai.answers import REFUSAL
from batchline.sandbox.openai.batches import BATCH_LIFETIME, ENDPOINT, BatchesApi
from batchline.sandbox.openai.errors import error, fault_response, unauthenticated
from batchline.sandbox.openai.files import FilesApi
from batchline.sandbox.openai.records import FILE_LIFETIME, Store
from batchline.sandbox.openai.validation import Limits
from batchline.sandbox.wire import provider_app

#: OpenAI's per-batch limits. Read at every create call (``limits``), so a test can lower them
#: here with ``monkeypatch.setattr``.
MAX_REQUESTS = 50_000
MAX_INPUT_BYTES = 200 * 1024 * 1024
#: Validation stops listing problems after this many, as a long list helps nobody.
MAX_REPORTED_ERRORS = 10

__all__ = [
    "BATCH_LIFETIME",
    "ENDPOINT",
    "FILE_LIFETIME",
    "MAX_INPUT_BYTES",
    "MAX_REPORTED_ERRORS",
    "MAX_REQUESTS",
    "REFUSAL",
    "build_app",
    "error",
    "limits",
]


def limits() -> Limits:
    """The limits as this module holds them now."""
    return Limits(MAX_REQUESTS, MAX_INPUT_BYTES, MAX_REPORTED_ERRORS)


def build_app(ctx: SandboxContext) -> Starlette:
    """The OpenAI app; its routes share one ``Store`` of files and batches."""
    store = Store(ctx, limits)
    files, batches = FilesApi(store), BatchesApi(store)
    routes = [
        Route("/v1/files", files.upload, methods=["POST"]),
        Route("/v1/files", files.list, methods=["GET"]),
        Route("/v1/files/{file_id}", files.get, methods=["GET"]),
        Route("/v1/files/{file_id}", files.delete, methods=["DELETE"]),
        Route("/v1/files/{file_id}/content", files.content, methods=["GET"]),
        Route("/v1/batches", batches.create, methods=["POST"]),
        Route("/v1/batches", batches.list, methods=["GET"]),
        Route("/v1/batches/{batch_id}", batches.get, methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", batches.cancel, methods=["POST"]),
    ]
    return provider_app(
        ctx,
        routes,
        unauthenticated=unauthenticated,
        fault_response=fault_response,
        id_header="x-request-id",
        new_id=lambda: f"req_{random_hex(32)}",
    )
