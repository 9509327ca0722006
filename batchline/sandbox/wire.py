"""HTTP conventions the provider apps share: refusing a call from deep in a route, list pages,
timestamps, and the app that puts a provider's routes behind its front door.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, overload

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from batchline.sandbox.context import SandboxContext
from batchline.sandbox.front_door import FrontDoor, Refuse, gate


class Refused(Exception):
    """A call the emulated API refuses, raised wherever the reason is found (a missing record,
    a bad parameter) and answered with ``response`` as it is, by the app ``provider_app`` builds.
    """

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def _answer_refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return exc.response


def provider_app(
    ctx: SandboxContext,
    routes: Sequence[BaseRoute],
    *,
    unauthenticated: Refuse,
    fault_response: Callable[[int], Response],
    id_header: str | None = None,
    new_id: Callable[[], str] | None = None,
) -> Starlette:
    """A provider's app: its routes behind its front door, with ``Refused`` answered as raised.

    The provider gives its words for the front door's refusals (see ``front_door.gate``) and,
    if its responses carry one, the header and shape of its request ids.
    """
    front_door = Middleware(
        FrontDoor,
        refuse=gate(ctx, unauthenticated, fault_response),
        id_header=id_header,
        new_id=new_id,
    )
    return Starlette(
        routes=list(routes),
        middleware=[front_door],
        exception_handlers={Refused: _answer_refusal},
    )


# -- list pages ----------------------------------------------------------------------------------


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


_Record = TypeVar("_Record", bound=_Identified)


def page_limit(params: Mapping[str, str], maximum: int, default: int = 20) -> int | None:
    """The ``limit`` query parameter; None unless it is a whole number from 1 to ``maximum``."""
    try:
        limit = int(params.get("limit", default))
    except ValueError:
        return None
    return limit if 1 <= limit <= maximum else None


def page_after(
    newest_first: list[_Record], after: str | None, limit: int
) -> tuple[list[_Record], bool]:
    """The page after the record with id ``after`` (from the top without one), and whether more
    follow. An unknown id gives an empty page, as the APIs answer a cursor that has gone."""
    ids = [record.id for record in newest_first]
    start = 0
    if after:
        start = ids.index(after) + 1 if after in ids else len(ids)
    return newest_first[start : start + limit], start + limit < len(newest_first)


def page_before(newest_first: list[_Record], before: str, limit: int) -> tuple[list[_Record], bool]:
    """The page just before the record with id ``before``, and whether newer records precede it."""
    ids = [record.id for record in newest_first]
    end = ids.index(before) if before in ids else 0
    start = max(0, end - limit)
    return newest_first[start:end], start > 0


def page_ends(data: list[dict[str, Any]]) -> dict[str, Any]:
    """A list page's ``first_id`` and ``last_id`` (None on an empty page)."""
    return {
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


# -- timestamps ----------------------------------------------------------------------------------


@overload
def rfc3339(moment: float) -> str: ...
@overload
def rfc3339(moment: None) -> None: ...
@overload
def rfc3339(moment: float | None) -> str | None: ...
def rfc3339(moment: float | None) -> str | None:
    """RFC 3339 in UTC with microseconds and ``Z``, as Anthropic and Vertex AI write times."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
