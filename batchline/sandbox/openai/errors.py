"""OpenAI's error envelope, and the front door's words for a missing key or an injected fault."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from batchline.sandbox.front_door import bearer_token


def error(
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> JSONResponse:
    """OpenAI's error envelope, which the SDK turns into ``openai.APIStatusError`` subclasses."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def unauthenticated(headers: Headers) -> Response | None:
    """OpenAI's answer to a call without a bearer key."""
    if bearer_token(headers):
        return None
    return error(
        401,
        "You didn't provide an API key. You need to provide your API key in an "
        "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        code="invalid_api_key",
    )


def fault_response(status: int) -> Response:
    """OpenAI's wording of an injected 401, 429, 503 or other server error."""
    if status == 401:
        message = "Incorrect API key provided. You can find your API key at platform.openai.com."
        return error(401, message, code="invalid_api_key")
    if status == 429:
        message = "Rate limit reached for requests. Please try again later."
        return error(429, message, "requests", code="rate_limit_exceeded")
    if status == 503:
        return error(
            503, "The engine is currently overloaded, please try again later.", "server_error"
        )
    message = "The server had an error while processing your request. Sorry about that!"
    return error(status, message, "server_error")
