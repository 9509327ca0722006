"""A Message Batch's requests as the create call sends them: checked, and spooled to disk.

The body is one JSON object holding up to 100,000 requests; the API refuses the whole call
if any request is malformed, so every check here happens before the batch exists.
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from batchline.sandbox.anthropic.errors import Rejected
from batchline.sandbox.spool import output_order

#: The custom_id rule the API enforces at creation.
CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_BLANK = re.compile(r"[ \t\n\r]*")


def _skip(text: str, index: int) -> int:
    match = _BLANK.match(text, index)
    return match.end() if match else index


def iter_requests(text: str) -> Iterator[Any]:
    """The elements of the body's ``requests`` array, parsed one at a time.

    Parsing a whole body at once costs about ten times its size in Python objects (gigabytes
    for a 256 MB batch); walking the array keeps one request in memory at a time.
    """
    decoder = json.JSONDecoder()
    seen_key = False
    try:
        index = _skip(text, 0)
        if text[index] != "{":
            raise ValueError("not an object")
        index = _skip(text, index + 1)
        while text[index] != "}":
            key, index = decoder.raw_decode(text, index)
            index = _skip(text, index)
            if text[index] != ":":
                raise ValueError("no colon")
            index = _skip(text, index + 1)
            if key == "requests" and text[index] == "[":
                seen_key = True
                index = _skip(text, index + 1)
                while text[index] != "]":
                    request, index = decoder.raw_decode(text, index)
                    yield request
                    index = _skip(text, index)
                    if text[index] == ",":
                        index = _skip(text, index + 1)
                index += 1
            else:
                seen_key = seen_key or key == "requests"
                _, index = decoder.raw_decode(text, index)
            index = _skip(text, index)
            if text[index] == ",":
                index = _skip(text, index + 1)
    except (ValueError, IndexError) as exc:
        raise Rejected("The request body is not valid JSON.") from exc
    if not seen_key:
        raise Rejected("requests: Field required")


def _checked_id(index: int, request: Any, seen: set[str], max_requests: int) -> str:
    """The request's custom_id, if it and the request pass the checks made at creation."""
    if index >= max_requests:
        raise Rejected(f"requests: List should have at most {max_requests} items after validation")
    if not isinstance(request, dict) or not isinstance(request.get("params"), dict):
        raise Rejected(f"requests.{index}.params: Field required")
    custom_id = request.get("custom_id")
    if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
        raise Rejected(
            f"requests.{index}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        )
    if custom_id in seen:
        raise Rejected(
            f"requests.{index}.custom_id: Duplicate custom_id '{custom_id}'; each request in"
            " a Message Batch needs a unique custom_id."
        )
    seen.add(custom_id)
    return custom_id


def spool_requests(
    body: bytes | bytearray, path: Path, seed: int, max_requests: int
) -> tuple[array[int], array[int]]:
    """Check the requests and write them to ``path``, one line each.

    Returns where each line sits (start, end pairs) and the order results will come back in,
    as line numbers: all a batch keeps in memory.
    """
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise Rejected("The request body is not valid UTF-8.") from exc
    spans: array[int] = array("Q")
    custom_ids: list[str] = []
    seen: set[str] = set()
    offset = 0
    with path.open("wb", buffering=1 << 20) as spool:
        for index, request in enumerate(iter_requests(text)):
            custom_id = _checked_id(index, request, seen, max_requests)
            try:
                line = orjson.dumps({"custom_id": custom_id, "params": request["params"]})
            except orjson.JSONEncodeError as exc:  # e.g. an integer wider than 64 bits
                raise Rejected(f"requests.{index}.params: {exc}") from exc
            spool.write(line + b"\n")
            spans.extend((offset, offset + len(line)))
            offset += len(line) + 1
            custom_ids.append(custom_id)
    if not custom_ids:
        raise Rejected("requests: List should have at least 1 item after validation, not 0")
    return spans, array("L", output_order(custom_ids, seed))
