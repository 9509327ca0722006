"""Checking a request file the user brought, line by line, before any of it is uploaded.

OpenAI and Vertex AI accept a file of malformed lines and fail the batch later (after the
upload, and with a message about the batch rather than the line); Anthropic refuses the whole
call. So ``submit_batch`` reads every line first: each must be a JSON object in the provider's
request shape (``Provider.check_request_line``) with a custom id no other line has. The loop,
the line numbers and the "written for another provider" guess live here, once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from batchline.batching.requests import RequestSource, open_source
from batchline.errors import InvalidRequestError

if TYPE_CHECKING:
    from batchline.batching.providers.base import Provider

#: JSON type names as users know them, for "is a list, not an object".
_JSON_NAMES = {dict: "object", list: "array", str: "string", int: "number", float: "number"}


def check_request_file(source: RequestSource, provider: type[Provider]) -> int:
    """Check every line of ``source`` against ``provider``'s request shape; return the count.

    Raises:
        InvalidRequestError: naming the first bad line's number and what is wrong with it;
            for a line in another provider's shape, naming that provider.
    """
    seen: dict[str, int] = {}
    with open_source(source) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            custom_id = _checked(line, number, provider)
            first = seen.setdefault(custom_id, number)
            if first != number:
                raise InvalidRequestError(
                    f"line {number}: custom id {custom_id!r} is already used on line {first}; "
                    "every request needs its own"
                )
    return len(seen)


def _checked(line: bytes, number: int, provider: type[Provider]) -> str:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"line {number} is not JSON: {exc}") from None
    if not isinstance(record, dict):
        kind = _JSON_NAMES.get(type(record), "null")
        raise InvalidRequestError(f"line {number} is a JSON {kind}, not an object")
    try:
        return provider.check_request_line(record)
    except InvalidRequestError as exc:
        other = _written_for(record, provider)
        if other:
            raise InvalidRequestError(
                f"line {number} has {other}'s request shape, not {provider.name}'s: the file "
                f"was written for {other}; submit it with model {other}/<model-name>"
            ) from None
        raise InvalidRequestError(f"line {number}: {exc}") from None


def _written_for(record: dict[str, Any], provider: type[Provider]) -> str | None:
    """The other provider whose request shape ``record`` has, if any."""
    from batchline.batching.providers import PROVIDERS, provider_class

    for name in PROVIDERS:
        if name == provider.name:
            continue
        try:
            provider_class(name).check_request_line(record)
        except InvalidRequestError:
            continue
        return name
    return None


def line_field(record: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    """``record[key]`` when it is a ``kind`` (a JSON ``what``: "a string", "an object"...)."""
    if key not in record:
        raise InvalidRequestError(f"{key!r} is missing")
    value = record[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        shown = orjson.dumps(value).decode()[:60]
        raise InvalidRequestError(f"{key!r} must be {what}, got {shown}")
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def only_keys(record: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    """Refuse keys the provider does not accept at this level (named, so a typo shows)."""
    unknown = sorted(set(record) - allowed)
    if unknown:
        raise InvalidRequestError(
            f"{where} has unexpected key(s) {', '.join(map(repr, unknown))}; "
            f"expected {', '.join(sorted(allowed))}"
        )
