"""The Gemini Developer API's batch mode, emulated: the Files API and the Batch API.

Mounted at ``/gemini`` (``sb.gemini_base_url``, ``GOOGLE_GEMINI_BASE_URL``). Every route is
served under both ``v1`` (google-genai's default version) and ``v1beta`` (the one the docs
use). Calls authenticate with ``x-goog-api-key``; a bearer token alone is refused.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batchline.sandbox.context import SandboxContext
from batchline.sandbox.gemini.batches import BatchesApi
from batchline.sandbox.gemini.files import FilesApi
from batchline.sandbox.google.errors import fault_response, google_error, not_found
from batchline.sandbox.wire import provider_app

__all__ = ["MOUNT", "build_app"]

#: Where the sandbox mounts this app.
MOUNT = "/gemini"
_VERSIONS = frozenset({"v1", "v1beta"})


def unauthenticated(headers: Headers) -> Response | None:
    """The Developer API's answer to a call without an API key. A chunk of a started upload
    needs none: the upload URL's session id authorizes it (google-genai sends no key with
    chunks), and the upload route refuses an unknown session."""
    if headers.get("x-goog-api-key", "").strip():
        return None
    command = headers.get("x-goog-upload-command", "")
    if command and "start" not in command:
        return None
    return google_error(
        403 if headers.get("authorization") else 401,
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
        "PERMISSION_DENIED" if headers.get("authorization") else "UNAUTHENTICATED",
    )


def build_app(ctx: SandboxContext) -> Starlette:
    """The Gemini Developer API app, mounted by the sandbox at ``MOUNT``."""
    files = FilesApi(ctx, MOUNT)
    batches = BatchesApi(ctx, files)

    def versioned(endpoint):  # type: ignore[no-untyped-def]
        async def route(request: Request) -> Response:
            if request.path_params["version"] not in _VERSIONS:
                return await not_found(request)
            response: Response = await endpoint(request)
            return response

        return route

    routes = [
        Route("/upload/{version}/files", versioned(files.upload), methods=["POST"]),
        Route("/{version}/files/{file_ref}", versioned(files.one_file), methods=["GET", "DELETE"]),
        Route("/{version}/models/{model_ref}", versioned(batches.create), methods=["POST"]),
        Route("/{version}/batches", versioned(batches.list_batches), methods=["GET"]),
        Route(
            "/{version}/batches/{batch_ref}",
            versioned(batches.one_batch),
            methods=["GET", "POST", "DELETE"],
        ),
        Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    return provider_app(ctx, routes, unauthenticated=unauthenticated, fault_response=fault_response)
