"""The front door of every provider app: its key check and injected HTTP faults, before any route.

Every real API checks the credential first and only then can fail a call for load, so the
order is fixed here (``gate``); each provider supplies only its words for the two refusals.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from batchline.sandbox.context import SandboxContext

#: Decides from a call's headers whether it gets in: None, or the response that refuses it.
Refuse = Callable[[Headers], Response | None]


def bearer_token(headers: Headers) -> str:
    """The token of an ``Authorization: Bearer ...`` header, or "" when there is none."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def gate(
    ctx: SandboxContext,
    unauthenticated: Refuse,
    fault_response: Callable[[int], Response],
) -> Refuse:
    """The refusal rule of a provider app: its key check, then a seeded HTTP fault.

    ``unauthenticated(headers)`` answers a call without a usable credential (or returns None);
    ``fault_response(status)`` words an injected 429, 500 or 503. A refused call draws no
    fault, so the seeded fault stream is the same whatever the key checks refuse.
    """

    def refuse(headers: Headers) -> Response | None:
        refusal = unauthenticated(headers)
        if refusal is not None:
            return refusal
        status = ctx.faults.http_fault()
        return None if status is None else fault_response(status)

    return refuse


class FrontDoor:
    """ASGI middleware for a provider app: its key check and injected HTTP faults, before any route.

    ``refuse(headers)`` returns the provider's error response (401, 429, 5xx) or None to let the
    call through. With ``id_header``, every response carries a fresh request id under it, as
    OpenAI's and Anthropic's do (the SDKs surface it as ``error.request_id``); Vertex AI sends
    none.
    """

    def __init__(
        self,
        app: ASGIApp,
        refuse: Refuse,
        id_header: str | None = None,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        if (id_header is None) != (new_id is None):
            raise ValueError("id_header and new_id go together")
        self.app = app
        self.refuse = refuse
        self.id_header = None if id_header is None else id_header.encode()
        self.new_id = new_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        respond: Send = send
        if self.id_header is not None and self.new_id is not None:
            id_header, request_id = self.id_header, self.new_id().encode()

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message.setdefault("headers", []).append((id_header, request_id))
                await send(message)

            respond = send_with_id
        refusal = self.refuse(Headers(scope=scope))
        if refusal is not None:
            await refusal(scope, receive, respond)
        else:
            await self.app(scope, receive, respond)
