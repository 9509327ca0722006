"""Google's error shape, and the front door's words for a missing credential or a fault.

Errors are ``{"error": {"code", "message", "status"}}``, which ``google.genai.errors.APIError``
parses; a job's own ``error`` field carries a ``google.rpc.Code`` instead.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from batchline.sandbox.front_door import bearer_token

#: google.rpc.Code values a job's ``error`` carries.
RPC_CANCELLED, RPC_INVALID_ARGUMENT, RPC_DEADLINE_EXCEEDED = 1, 3, 4
RPC_NOT_FOUND, RPC_INTERNAL = 5, 13

_HTTP_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_FAULT_MESSAGES = {
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential.",
    429: "Resource exhausted. Please try again later.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}
#: Google's own wording: the first when no credential came, the second for an API key alone.
_NO_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential."
)
_API_KEY_REJECTED = (
    "API keys are not supported by this API. Expected OAuth2 access token or other "
    "authentication credentials that assert a principal."
)


class BadRequest(ValueError):
    """The call itself is invalid: answered at once with 400 INVALID_ARGUMENT."""


def google_error(code: int, message: str, status: str | None = None) -> JSONResponse:
    """An error in Google's JSON shape, which ``google.genai.errors.APIError`` parses."""
    status = status or _HTTP_STATUS.get(code, "UNKNOWN")
    return JSONResponse({"error": {"code": code, "message": message, "status": status}}, code)


def unauthenticated(headers: Headers) -> Response | None:
    """Vertex AI's answer to a call without a bearer token (an API key alone is not enough)."""
    if bearer_token(headers):
        return None
    message = _API_KEY_REJECTED if "x-goog-api-key" in headers else _NO_CREDENTIAL
    return google_error(401, message)


def fault_response(status: int) -> Response:
    """Google's wording of an injected 401, 429, 500 or 503."""
    return google_error(status, _FAULT_MESSAGES[status])


async def not_found(request: Request) -> Response:
    """Google's 404 for a path no route serves."""
    return google_error(404, f"The requested URL {request.url.path} was not found on this server.")
