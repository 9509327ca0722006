"""Anthropic's error envelope, and the front door's words for a missing key or an injected fault."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from batchline.sandbox.front_door import bearer_token
from batchline.sandbox.ids import random_token


class Rejected(Exception):
    """A create request the API refuses with 400 ``invalid_request_error``."""


def request_id() -> str:
    """An Anthropic request id, as in the ``request-id`` header and error bodies."""
    return f"req_011C{random_token(20)}"


def error(status: int, kind: str, message: str) -> JSONResponse:
    """Anthropic's error envelope, which the SDK turns into ``anthropic.APIStatusError``s."""
    body = {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": request_id(),
    }
    return JSONResponse(body, status_code=status)


def unauthenticated(headers: Headers) -> Response | None:
    """Anthropic's answer to a call without a key."""
    # The API documents ``x-api-key``; SDK 2.x sends the same key as ``Authorization: Bearer``.
    if headers.get("x-api-key", "").strip() or bearer_token(headers):
        return None
    return error(401, "authentication_error", "x-api-key header is required")


def fault_response(status: int) -> Response:
    """Anthropic's wording of an injected 401, 429, 503 or other server error."""
    if status == 401:
        return error(401, "authentication_error", "invalid x-api-key")
    if status == 429:
        message = "This request would exceed the rate limit for your organization. Try again later."
        return error(429, "rate_limit_error", message)
    if status == 503:
        # Anthropic reports overload as 529; the fault settings speak of 503, which is kept.
        return error(503, "overloaded_error", "Overloaded")
    return error(status, "api_error", "Internal server error")
